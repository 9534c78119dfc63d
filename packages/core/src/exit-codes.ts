/** Exit code for invalid configuration (sysexits EX_CONFIG): the supervisor does not restart it. */
export const EXIT_CONFIG = 78;
