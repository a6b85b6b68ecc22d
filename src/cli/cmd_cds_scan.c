int cmd_cds_scan(int argc, char **argv) { (void)argc; (void)argv; return 3; }
int cmd_registry_zone(int argc, char **argv) { (void)argc; (void)argv; return 3; }
