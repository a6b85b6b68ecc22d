/* update: being written. */
