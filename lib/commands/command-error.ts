/** An error the user caused or can act on: printed as one line, exit status 1. */
export class CommandError extends Error {}
