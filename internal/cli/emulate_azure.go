//go:build !lifeboat_agent

package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	azureemu "github.com/lifeboat-dev/lifeboat/internal/emulate/azure"
)

func init() { addEmulateCommand(newEmulateAzureCommand) }

// emulateAzureOptions configure `lifeboat emulate azure`.
type emulateAzureOptions struct {
	// Address is the host:port to listen on.
	Address string
	// VMName is the emulated VM's name: the compute "name" and the default
	// resource of events.
	VMName string
	// Location is the compute location served.
	Location string
	// StartedFor is how long an event stays listed as Started before it
	// disappears.
	StartedFor time.Duration
	// EventIn is when the start-up event appears in the document ("" = no event).
	EventIn string
	// EventType is the start-up event's type.
	EventType string
	// NotBeforeIn is the start-up event's NotBefore after it appears (0: the
	// type's minimum notice).
	NotBeforeIn time.Duration
	// EventResources are the VM names the start-up event lists (empty: VMName).
	EventResources []string

	// eventIn is EventIn parsed (nil = no event), set by Validate.
	eventIn *time.Duration
}

// AddFlags registers the emulator's flags.
func (o *emulateAzureOptions) AddFlags(fs *pflag.FlagSet) {
	addAddressFlag(fs, &o.Address)
	fs.StringVar(&o.VMName, "vm-name", o.VMName,
		"Name of the emulated VM, as scale-set events list it (<vmss>_<instance id>).")
	fs.StringVar(&o.Location, "location", o.Location, "Azure location served in the compute metadata.")
	fs.DurationVar(&o.StartedFor, "started-for", o.StartedFor,
		"How long an event stays listed as Started (after its NotBefore or an acknowledgement) before it disappears.")
	fs.StringVar(&o.EventIn, "event-in", o.EventIn, "List a scheduled event after this long (e.g. 10s; empty: no event).")
	fs.StringVar(&o.EventType, "event-type", o.EventType, "Type of that event: Preempt, Terminate, Reboot, Redeploy or Freeze.")
	fs.DurationVar(&o.NotBeforeIn, "not-before-in", o.NotBeforeIn,
		"NotBefore of that event after it appears (0: the type's minimum notice: Preempt 30s, Terminate 5m, others 15m).")
	fs.StringSliceVar(&o.EventResources, "event-resources", o.EventResources,
		"VM names the event lists (default: --vm-name; name another VM to check it is ignored).")
}

// Validate checks the flags and parses the schedule.
func (o *emulateAzureOptions) Validate() error {
	if err := validateAddress(o.Address); err != nil {
		return err
	}
	if o.VMName == "" {
		return fmt.Errorf("--vm-name must not be empty")
	}
	if o.StartedFor <= 0 {
		return fmt.Errorf("--started-for must be positive, got %s", o.StartedFor)
	}
	switch o.EventType {
	case azureemu.EventPreempt, azureemu.EventTerminate, azureemu.EventReboot, azureemu.EventRedeploy, azureemu.EventFreeze:
	default:
		return fmt.Errorf("--event-type must be Preempt, Terminate, Reboot, Redeploy or Freeze, got %q", o.EventType)
	}
	if o.NotBeforeIn < 0 {
		return fmt.Errorf("--not-before-in must not be negative, got %s", o.NotBeforeIn)
	}
	var err error
	o.eventIn, err = optionalDuration("event-in", o.EventIn)
	return err
}

func newEmulateAzureCommand(g *Globals) *cobra.Command {
	o := &emulateAzureOptions{
		Address: "127.0.0.1:1339", VMName: azureemu.DefaultVMName, Location: azureemu.DefaultLocation,
		StartedFor: azureemu.DefaultStartedFor, EventType: azureemu.EventPreempt,
	}
	return newEmulatorCommand("azure",
		"Emulate Azure Scheduled Events (IMDS) with preemption, termination, reboot, redeploy and freeze events",
		"  lifeboat emulate azure --event-in 10s --event-type Preempt\n"+
			"  curl -X POST localhost:1339/lifeboat/events -d '{\"type\":\"Reboot\",\"notBeforeIn\":\"5m\"}'",
		o, func(cmd *cobra.Command) error { return runEmulateAzure(cmd, g, o) })
}

func runEmulateAzure(cmd *cobra.Command, g *Globals, o *emulateAzureOptions) error {
	srv := azureemu.New(azureemu.Options{VMName: o.VMName, Location: o.Location, StartedFor: o.StartedFor, Log: g.Log})
	if o.eventIn != nil {
		if _, err := srv.Schedule(azureemu.EventSpec{
			EventType: o.EventType, In: azureemu.Duration(*o.eventIn),
			NotBeforeIn: azureemu.Duration(o.NotBeforeIn), Resources: o.EventResources,
		}); err != nil {
			return fmt.Errorf("--event-in/--event-type: %w", err)
		}
	}
	return serveEmulator(cmd.Context(), g.Stdout, o.Address, srv, func(url, _ string) string {
		return fmt.Sprintf("Azure Scheduled Events emulator on %s (VM %s)\n"+
			"  lifeboat agent --metadata-url %s\n"+
			"  schedule events: curl -X POST %s/lifeboat/events -d '{\"type\":\"Preempt\"}'   (see docs/EMULATORS.md)\n",
			url, o.VMName, url, url)
	})
}
