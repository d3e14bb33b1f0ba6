// What the command line tells the running program about itself.

export interface ProgramFacts {
  /** The program's version, for the start-up line. */
  version: string;
  /** The configuration file, re-read on SIGHUP; absent: the defaults, nothing to re-read. */
  configFile?: string;
}
