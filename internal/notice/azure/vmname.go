package azure

import (
	"context"
	"errors"
	"strings"
)

// computeAPIVersion is the IMDS api-version used for instance compute metadata.
const computeAPIVersion = "2021-02-01"

// VMNameFromProviderID returns the VM name Azure Scheduled Events write in
// Resources for a Node's spec.providerID:
//
//	azure:///subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachineScaleSets/<vmss>/virtualMachines/<id>  -> <vmss>_<id>
//	azure:///subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name>                                -> <name>
//
// The second form covers availability-set, standalone and flexible
// scale-set VMs. Path keywords are matched case-insensitively; the returned
// name keeps the providerID's case (compare it with strings.EqualFold).
// Anything else is a *ProviderIDError.
func VMNameFromProviderID(providerID string) (string, error) {
	const scheme = "azure://"
	if len(providerID) < len(scheme) || !strings.EqualFold(providerID[:len(scheme)], scheme) {
		return "", &ProviderIDError{ProviderID: providerID, Reason: `does not start with "azure://"`}
	}
	segs := strings.Split(strings.Trim(providerID[len(scheme):], "/"), "/")
	bad := func(reason string) (string, error) {
		return "", &ProviderIDError{ProviderID: providerID, Reason: reason}
	}
	eq := strings.EqualFold
	if len(segs) < 8 || !eq(segs[0], "subscriptions") || !eq(segs[2], "resourceGroups") ||
		!eq(segs[4], "providers") || !eq(segs[5], "Microsoft.Compute") {
		return bad("want /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/...")
	}
	for _, s := range segs {
		if s == "" {
			return bad("empty path segment")
		}
	}
	switch {
	case len(segs) == 8 && eq(segs[6], "virtualMachines"):
		return segs[7], nil
	case len(segs) == 10 && eq(segs[6], "virtualMachineScaleSets") && eq(segs[8], "virtualMachines"):
		return segs[7] + "_" + segs[9], nil
	}
	return bad("want .../virtualMachines/<name> or .../virtualMachineScaleSets/<vmss>/virtualMachines/<id>")
}

// computeName reads this VM's name from IMDS instance compute metadata.
func (s *Source) computeName(ctx context.Context) (string, error) {
	var c struct {
		Name string `json:"name"`
	}
	u := s.base + "/metadata/instance/compute?api-version=" + computeAPIVersion
	if err := s.getJSON(ctx, u, &c); err != nil {
		return "", err
	}
	if strings.TrimSpace(c.Name) == "" {
		return "", &MalformedError{URL: u, Err: errors.New(`compute metadata has no "name"`)}
	}
	return strings.TrimSpace(c.Name), nil
}

// resolveVMName returns Config.VMName, the name derived from
// Config.ProviderID, or the IMDS compute name, retrying IMDS with backoff
// until it answers or ctx ends.
func (s *Source) resolveVMName(ctx context.Context) (string, error) {
	if s.vmName != "" {
		return s.vmName, nil
	}
	for failures := 0; ; {
		name, err := s.computeName(ctx)
		if err == nil {
			s.log.Info("azure VM name read from instance metadata", "vm", name)
			return name, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		failures++
		s.failed(err, failures, "reading VM name from instance metadata")
		if err := s.sleep(ctx, s.backoff(failures)); err != nil {
			return "", err
		}
	}
}
