package agent

import (
	"context"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/handled"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	azurenotice "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
)

// AzurePeersHandled returns the check the Azure source runs before
// acknowledging an event that also lists other VMs. It returns the VMs whose
// Node does not record the event as handled, VMs without a Node included
// (lifeboat cannot vouch for them): approving the event starts it for all
// of them, so only the last of them to finish acknowledges it. Nodes are
// looked up by name (the agent may only get Nodes, never list them): the VM
// name itself (availability sets) and the AKS scale-set name
// (<vmss>_<id> → <vmss><id in base 36, six digits>); a Node counts only if
// its providerID names that VM.
func AzurePeersHandled(client kube.Interface) func(ctx context.Context, id string, vms []string) ([]string, error) {
	return func(ctx context.Context, id string, vms []string) ([]string, error) {
		var waiting []string
		for _, vm := range vms {
			done, err := azureVMHandled(ctx, client, vm, id)
			if err != nil {
				return nil, err
			}
			if !done {
				waiting = append(waiting, vm)
			}
		}
		return waiting, nil
	}
}

func azureVMHandled(ctx context.Context, client kube.Interface, vm, id string) (bool, error) {
	for _, name := range AzureNodeNames(vm) {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		if got, err := azurenotice.VMNameFromProviderID(n.Spec.ProviderID); err != nil || !strings.EqualFold(got, vm) {
			continue
		}
		return handled.Is(n, id), nil
	}
	return false, nil
}

// AzureNodeNames lists the Node names a VM may have: its own name, lower
// case, and for a scale-set VM (<vmss>_<instance id>) the name AKS gives its
// Node (<vmss><instance id in base 36, zero-padded to six digits>).
func AzureNodeNames(vm string) []string {
	vm = strings.ToLower(strings.TrimSpace(vm))
	names := []string{vm}
	if i := strings.LastIndexByte(vm, '_'); i > 0 {
		if id, err := strconv.ParseUint(vm[i+1:], 10, 64); err == nil {
			b36 := strconv.FormatUint(id, 36)
			if len(b36) < 6 {
				b36 = strings.Repeat("0", 6-len(b36)) + b36
			}
			names = append(names, vm[:i]+b36)
		}
	}
	return names
}
