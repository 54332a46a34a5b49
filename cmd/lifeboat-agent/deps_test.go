package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNodeBuildLeavesOutHeavyPackages keeps the node build lean: what the
// binary links is mapped, and what init and a drain touch stays resident
// on every node (issue 11: ≤ 20 MiB idle, ≤ 25 MiB during a drain). Each
// package below once cost the agent MiB it never used.
func TestNodeBuildLeavesOutHeavyPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "lifeboat_agent", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	refused := map[string]string{
		// client-go's clientset registers every API group's types (~9 MiB
		// resident); the agent uses internal/kube's narrow client.
		"k8s.io/client-go/kubernetes":        "the full clientset",
		"k8s.io/client-go/kubernetes/scheme": "the all-groups scheme",
		"k8s.io/client-go/informers":         "the all-groups informer factory",
		"k8s.io/client-go/discovery":         "discovery and its OpenAPI models",
		"k8s.io/kubectl/pkg/drain":           "kubectl's drain helper",
		// Cluster-wide modes and tools that never run on a node.
		"github.com/lifeboat-dev/lifeboat/internal/queue":   "queue mode",
		"github.com/lifeboat-dev/lifeboat/internal/lambda":  "Lambda mode",
		"github.com/lifeboat-dev/lifeboat/internal/emulate": "the metadata emulators",
		"github.com/lifeboat-dev/lifeboat/internal/atrisk":  "lifeboat plan",
		"github.com/aws/aws-sdk-go-v2/service/ec2":          "the EC2 client",
		"github.com/aws/aws-sdk-go-v2/service/sqs":          "the SQS client",
		"github.com/spf13/cobra/doc":                        "the docs generator",
	}
	var linked []string
	for _, d := range deps {
		if why, ok := refused[d]; ok {
			linked = append(linked, d+" ("+why+")")
		}
	}
	if len(linked) > 0 {
		t.Errorf("the node build (-tags lifeboat_agent) links:\n  %s\nkeep them out of the packages it imports (go list -deps -tags lifeboat_agent ./cmd/lifeboat-agent)",
			strings.Join(linked, "\n  "))
	}
	if !strings.Contains(" "+strings.Join(deps, " ")+" ", " github.com/lifeboat-dev/lifeboat/internal/agent ") {
		t.Errorf("the node build does not link internal/agent: go list returned %d packages", len(deps))
	}
}
