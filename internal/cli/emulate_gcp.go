//go:build !lifeboat_agent

package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	gcpemu "github.com/lifeboat-dev/lifeboat/internal/emulate/gcp"
)

func init() { addEmulateCommand(newEmulateGCPCommand) }

// emulateGCPOptions configure `lifeboat emulate gcp`.
type emulateGCPOptions struct {
	// Address is the host:port to listen on.
	Address string
	// InstanceID, InstanceName, Zone and MachineType describe the emulated instance.
	InstanceID, InstanceName, Zone, MachineType string
	// WaitTimeout bounds wait_for_change requests that carry no timeout_sec.
	WaitTimeout time.Duration
	// PreemptIn is when instance/preempted turns TRUE ("" = never).
	PreemptIn string
	// MaintenanceIn is when instance/maintenance-event turns to
	// MaintenanceEvent ("" = never).
	MaintenanceIn string
	// MaintenanceEvent is MIGRATE_ON_HOST_MAINTENANCE or TERMINATE_ON_HOST_MAINTENANCE.
	MaintenanceEvent string
	// MaintenanceFor is how long the maintenance event lasts before the value
	// returns to NONE (0 = it stays).
	MaintenanceFor time.Duration

	// parsed *In values (nil = not scheduled), set by Validate.
	preemptIn, maintenanceIn *time.Duration
}

// AddFlags registers the emulator's flags.
func (o *emulateGCPOptions) AddFlags(fs *pflag.FlagSet) {
	addAddressFlag(fs, &o.Address)
	fs.StringVar(&o.InstanceID, "instance-id", o.InstanceID, "Numeric instance ID served at instance/id.")
	fs.StringVar(&o.InstanceName, "instance-name", o.InstanceName, "Instance name served at instance/name.")
	fs.StringVar(&o.Zone, "zone", o.Zone, "Zone served at instance/zone.")
	fs.StringVar(&o.MachineType, "machine-type", o.MachineType, "Machine type served at instance/machine-type.")
	fs.DurationVar(&o.WaitTimeout, "wait-timeout", o.WaitTimeout,
		"How long a wait_for_change request without timeout_sec hangs before answering the unchanged value.")
	fs.StringVar(&o.PreemptIn, "preempt-in", o.PreemptIn, "Set instance/preempted to TRUE after this long (e.g. 30s; empty: never).")
	fs.StringVar(&o.MaintenanceIn, "maintenance-in", o.MaintenanceIn,
		"Set instance/maintenance-event to --maintenance-event after this long (empty: never).")
	fs.StringVar(&o.MaintenanceEvent, "maintenance-event", o.MaintenanceEvent,
		"Maintenance value: MIGRATE_ON_HOST_MAINTENANCE or TERMINATE_ON_HOST_MAINTENANCE.")
	fs.DurationVar(&o.MaintenanceFor, "maintenance-for", o.MaintenanceFor,
		"Return instance/maintenance-event to NONE this long after it was set (0: never).")
}

// Validate checks the flags and parses the schedule.
func (o *emulateGCPOptions) Validate() error {
	if err := validateAddress(o.Address); err != nil {
		return err
	}
	if o.InstanceID == "" || o.InstanceName == "" || o.Zone == "" || o.MachineType == "" {
		return fmt.Errorf("--instance-id, --instance-name, --zone and --machine-type must not be empty")
	}
	if o.WaitTimeout <= 0 {
		return fmt.Errorf("--wait-timeout must be positive, got %s", o.WaitTimeout)
	}
	if o.MaintenanceEvent != gcpemu.MaintenanceMigrate && o.MaintenanceEvent != gcpemu.MaintenanceTerminate {
		return fmt.Errorf("--maintenance-event must be %s or %s, got %q",
			gcpemu.MaintenanceMigrate, gcpemu.MaintenanceTerminate, o.MaintenanceEvent)
	}
	if o.MaintenanceFor < 0 {
		return fmt.Errorf("--maintenance-for must not be negative, got %s", o.MaintenanceFor)
	}
	var err error
	if o.preemptIn, err = optionalDuration("preempt-in", o.PreemptIn); err != nil {
		return err
	}
	o.maintenanceIn, err = optionalDuration("maintenance-in", o.MaintenanceIn)
	return err
}

func newEmulateGCPCommand(g *Globals) *cobra.Command {
	o := &emulateGCPOptions{
		Address: "127.0.0.1:1340", InstanceID: gcpemu.DefaultInstanceID, InstanceName: gcpemu.DefaultInstanceName,
		Zone: gcpemu.DefaultZone, MachineType: gcpemu.DefaultMachineType, WaitTimeout: gcpemu.DefaultWaitTimeout,
		MaintenanceEvent: gcpemu.MaintenanceTerminate,
	}
	return newEmulatorCommand("gcp",
		"Emulate the GCE metadata server with preemption and host maintenance events (wait_for_change long-polls)",
		"  lifeboat emulate gcp --preempt-in 30s\n"+
			"  curl -X POST localhost:1340/lifeboat/maintenance -d '{\"value\":\"MIGRATE_ON_HOST_MAINTENANCE\"}'",
		o, func(cmd *cobra.Command) error { return runEmulateGCP(cmd, g, o) })
}

func runEmulateGCP(cmd *cobra.Command, g *Globals, o *emulateGCPOptions) error {
	srv := gcpemu.New(gcpemu.Options{
		InstanceID: o.InstanceID, InstanceName: o.InstanceName, Zone: o.Zone, MachineType: o.MachineType,
		DefaultWaitTimeout: o.WaitTimeout, Log: g.Log,
	})
	if o.preemptIn != nil {
		srv.Preempt(*o.preemptIn)
	}
	if o.maintenanceIn != nil {
		srv.Maintenance(o.MaintenanceEvent, *o.maintenanceIn)
		if o.MaintenanceFor > 0 {
			srv.Maintenance(gcpemu.MaintenanceNone, *o.maintenanceIn+o.MaintenanceFor)
		}
	}
	return serveEmulator(cmd.Context(), g.Stdout, o.Address, srv, func(url, host string) string {
		return fmt.Sprintf("GCE metadata emulator on %s (instance %s)\n"+
			"  lifeboat agent --metadata-url %s   (Google client libraries: GCE_METADATA_HOST=%s)\n"+
			"  preempt now: curl -X POST %s/lifeboat/preempt   (see docs/EMULATORS.md)\n",
			url, o.InstanceID, url, host, url)
	})
}
