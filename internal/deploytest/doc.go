// Package deploytest holds the tests of everything lifeboat ships besides the
// binary: the Helm chart (deploy/helm/lifeboat) and the manifests rendered
// from it (deploy/manifests), the systemd units and Butane config
// (deploy/systemd), and the image build files (Dockerfile, .ko.yaml).
//
// The chart is rendered by a pinned helm (hack/helm.sh, or $LIFEBOAT_HELM),
// applied with server-side dry-run to the real test control plane
// (internal/testbed), and its RBAC is applied for real: lifeboat then drains
// a node with nothing but the chart's ServiceAccount token.
//
// Run with: go test ./internal/deploytest/ (Linux; builds helm and the
// control plane on first use). LIFEBOAT_UPDATE_GOLDEN=1 or -update rewrites
// deploy/manifests.
package deploytest
