package drain

import (
	"fmt"
	"strings"
)

// NodeNotFoundError reports that the node to act on does not exist.
type NodeNotFoundError struct {
	// Node is the name that was not found.
	Node string
}

func (e *NodeNotFoundError) Error() string { return fmt.Sprintf("node %q not found", e.Node) }

// ConsentError reports pods the drain may only remove with an explicit flag
// (--force for pods without a controller, --delete-emptydir-data for pods
// with local data). Nothing was evicted.
type ConsentError struct {
	// Node is the node being drained.
	Node string
	// Problems group the pods by what they need, each naming the flag to
	// use (kubectl drain's wording): "cannot delete ... (use --force to
	// override): ns/pod, ...".
	Problems []string
}

func (e *ConsentError) Error() string {
	return fmt.Sprintf("node %q has pods that need consent: %s", e.Node, strings.Join(e.Problems, "; "))
}

// IncompleteError reports a drain that ended with pods still on the node.
type IncompleteError struct {
	// Node is the node being drained.
	Node string
	// Reason says why the drain stopped ("deadline passed", "context canceled", ...).
	Reason string
	// Left lists the pods still on the node, each with its reason.
	Left []PodRef
}

func (e *IncompleteError) Error() string {
	names := make([]string, 0, len(e.Left))
	for i, p := range e.Left {
		if i == 10 {
			names = append(names, fmt.Sprintf("and %d more", len(e.Left)-10))
			break
		}
		s := p.String()
		if p.Reason != "" {
			s += " (" + p.Reason + ")"
		}
		names = append(names, s)
	}
	return fmt.Sprintf("drain of node %q incomplete: %s; %d pod(s) left: %s", e.Node, e.Reason, len(e.Left), strings.Join(names, ", "))
}

// ClaimedError reports that another lifeboat mode (the agent, queue mode)
// already acts on the same cloud event for the node: this one should wait
// for its result (the notice recorded as handled) instead of draining too.
type ClaimedError struct {
	// Node is the node.
	Node string
	// NoticeID is this caller's notice ID; ClaimedID is the ID the other
	// mode recorded for the same event, By the mode.
	NoticeID, ClaimedID, By string
}

func (e *ClaimedError) Error() string {
	return fmt.Sprintf("node %s: lifeboat %s already acts on this event (notice %s)", e.Node, e.By, e.ClaimedID)
}
