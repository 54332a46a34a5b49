// Package e2e holds end-to-end tests that run several lifeboat modes
// together on the test control plane (internal/testbed): the agent and
// queue mode on one cluster acting once on an event both see.
package e2e
