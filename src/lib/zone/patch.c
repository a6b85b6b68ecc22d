/* patch: being written. */
