package azure_test

import (
	"errors"
	"testing"
	"time"

	source "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
)

func TestVMNameFromProviderID(t *testing.T) {
	for _, tc := range []struct {
		name, providerID, want string
	}{
		{"scale set VM", "azure:///subscriptions/0000/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/3", "aks-nodepool1-12345678-vmss_3"},
		{"availability set VM", "azure:///subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/k8s-agentpool-12345678-0", "k8s-agentpool-12345678-0"},
		{"lower-case keywords", "azure:///subscriptions/0000/resourcegroups/rg/providers/microsoft.compute/virtualmachinescalesets/pool/virtualmachines/10", "pool_10"},
		{"windows scale set", "azure:///subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/akswin/virtualMachines/0", "akswin_0"},
		{"not azure", "aws:///us-east-1a/i-0123456789abcdef0", ""},
		{"empty", "", ""},
		{"missing instance", "azure:///subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/", ""},
		{"other provider", "azure:///subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/virtualMachines/x", ""},
		{"too short", "azure:///subscriptions/0000/resourceGroups/rg", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := source.VMNameFromProviderID(tc.providerID)
			if tc.want == "" {
				var pe *source.ProviderIDError
				if !errors.As(err, &pe) {
					t.Fatalf("VMNameFromProviderID(%q) = %q, %v; want *ProviderIDError", tc.providerID, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("VMNameFromProviderID(%q) = %q, %v; want %q", tc.providerID, got, err, tc.want)
			}
		})
	}
}

func TestParseNotBefore(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"Mon, 19 Sep 2016 18:29:47 GMT", time.Date(2016, 9, 19, 18, 29, 47, 0, time.UTC), false},
		{"Thu, 22 Jul 2021 04:50:17 GMT", time.Date(2021, 7, 22, 4, 50, 17, 0, time.UTC), false},
		{"Mon, 5 Sep 2016 08:00:00 GMT", time.Date(2016, 9, 5, 8, 0, 0, 0, time.UTC), false},
		{"", time.Time{}, false}, // the event started: no NotBefore
		{"2016-09-19T18:29:47Z", time.Time{}, true},
		{"soon", time.Time{}, true},
		{"Mon, 19 Sep 2016 18:29:47 +0200", time.Date(2016, 9, 19, 16, 29, 47, 0, time.UTC), false},
		{"Mon, 19 Sep 2016 18:29:47 UTC", time.Date(2016, 9, 19, 18, 29, 47, 0, time.UTC), false},
		// Found by FuzzDocument: time.Parse read unknown abbreviations as UTC, 7 hours off here.
		{"Mon, 19 Sep 2016 18:29:47 PST", time.Time{}, true},
		{"Mon, 19 Sep 2016 18:29:47 CEST", time.Time{}, true},
		{"Mon, 01 Jan 0001 00:00:00 GMT", time.Time{}, true}, // would read as "no NotBefore": started
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := source.ParseNotBefore(tc.in)
			if (err != nil) != tc.wantErr || !got.Equal(tc.want) {
				t.Fatalf("ParseNotBefore(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
