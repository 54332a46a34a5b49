package cli

// actionFlagUsage documents --action, the same in every mode. It lives
// outside queue.go because the node build (-tags lifeboat_agent) leaves
// queue.go and lambda.go out and the agent uses it too.
const actionFlagUsage = "Override the action for a notice kind, kind=action (repeatable); actions: none, taint, cordon, drain, drain-delete. " +
	"A kind this mode never sees is refused."
