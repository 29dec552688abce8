//! jobsctl: the operators' command line for jobs and dead-lettered messages.
