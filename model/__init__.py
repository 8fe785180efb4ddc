"""Pure data about the deployment: the ports table, the Always Free allowance, image versions, the
host layout and the shapes of what is deployed. Imports no Pulumi and does no I/O."""
