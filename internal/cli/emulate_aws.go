//go:build !lifeboat_agent

package cli

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	awsemu "github.com/lifeboat-dev/lifeboat/internal/emulate/aws"
)

func init() { addEmulateCommand(newEmulateAWSCommand) }

// emulateAWSOptions configure `lifeboat emulate aws`.
type emulateAWSOptions struct {
	// Address is the host:port to listen on.
	Address string
	// InstanceID, InstanceType, Zone and Region describe the emulated instance
	// (Region empty: derived from Zone).
	InstanceID, InstanceType, Zone, Region string
	// IMDSv1 also answers requests without a session token.
	IMDSv1 bool
	// TokenTTLMax caps the TTL granted to session tokens.
	TokenTTLMax time.Duration
	// SpotIn is when spot/instance-action appears ("" = never).
	SpotIn string
	// SpotAction is terminate, stop or hibernate.
	SpotAction string
	// SpotWarning is the time from the spot notice to the interruption.
	SpotWarning time.Duration
	// RebalanceIn is when the rebalance recommendation appears ("" = never).
	RebalanceIn string
	// MaintenanceIn is the time to a maintenance event's NotBefore; the event
	// is listed at once ("" = no event).
	MaintenanceIn string
	// MaintenanceCode is the event's code.
	MaintenanceCode string
	// MaintenanceDuration is NotAfter minus NotBefore.
	MaintenanceDuration time.Duration
	// ASGTerminateIn is when the target lifecycle state becomes Terminated ("" = never).
	ASGTerminateIn string

	// parsed *In values (nil = not scheduled), set by Validate.
	spotIn, rebalanceIn, maintenanceIn, asgIn *time.Duration
}

// AddFlags registers the emulator's flags.
func (o *emulateAWSOptions) AddFlags(fs *pflag.FlagSet) {
	addAddressFlag(fs, &o.Address)
	fs.StringVar(&o.InstanceID, "instance-id", o.InstanceID, "Instance ID to serve.")
	fs.StringVar(&o.InstanceType, "instance-type", o.InstanceType, "Instance type to serve.")
	fs.StringVar(&o.Zone, "zone", o.Zone, "Availability zone to serve.")
	fs.StringVar(&o.Region, "region", o.Region, "Region to serve (default: the zone without its letter).")
	fs.BoolVar(&o.IMDSv1, "imdsv1", o.IMDSv1, "Also answer requests without an IMDSv2 session token.")
	fs.DurationVar(&o.TokenTTLMax, "token-ttl-max", o.TokenTTLMax,
		"Longest TTL granted to session tokens (lower it to exercise token expiry).")
	fs.StringVar(&o.SpotIn, "spot-in", o.SpotIn, "Announce a spot interruption after this long (e.g. 30s; empty: never).")
	fs.StringVar(&o.SpotAction, "spot-action", o.SpotAction, "Spot interruption action: terminate, stop or hibernate.")
	fs.DurationVar(&o.SpotWarning, "spot-warning", o.SpotWarning, "Time from the spot notice to the interruption.")
	fs.StringVar(&o.RebalanceIn, "rebalance-in", o.RebalanceIn, "Publish a rebalance recommendation after this long.")
	fs.StringVar(&o.MaintenanceIn, "maintenance-in", o.MaintenanceIn,
		"List a maintenance event now whose window starts after this long.")
	fs.StringVar(&o.MaintenanceCode, "maintenance-code", o.MaintenanceCode,
		"Maintenance event code: instance-reboot, system-reboot, system-maintenance, instance-retirement or instance-stop.")
	fs.DurationVar(&o.MaintenanceDuration, "maintenance-duration", o.MaintenanceDuration,
		"Length of the maintenance window (NotAfter minus NotBefore); the event completes at its end.")
	fs.StringVar(&o.ASGTerminateIn, "asg-terminate-in", o.ASGTerminateIn,
		"Set the Auto Scaling target lifecycle state to Terminated after this long.")
}

// Validate checks the flags and parses the schedule.
func (o *emulateAWSOptions) Validate() error {
	if err := validateAddress(o.Address); err != nil {
		return err
	}
	if o.TokenTTLMax < time.Second || o.TokenTTLMax > awsemu.MaxTokenTTL {
		return fmt.Errorf("--token-ttl-max must be between 1s and 6h, got %s", o.TokenTTLMax)
	}
	if !slices.Contains([]string{awsemu.SpotTerminate, awsemu.SpotStop, awsemu.SpotHibernate}, o.SpotAction) {
		return fmt.Errorf("--spot-action must be terminate, stop or hibernate, got %q", o.SpotAction)
	}
	if o.SpotWarning <= 0 || o.MaintenanceDuration <= 0 {
		return fmt.Errorf("--spot-warning and --maintenance-duration must be positive")
	}
	var err error
	for _, d := range []struct {
		flag, value string
		dst         **time.Duration
	}{
		{"spot-in", o.SpotIn, &o.spotIn},
		{"rebalance-in", o.RebalanceIn, &o.rebalanceIn},
		{"maintenance-in", o.MaintenanceIn, &o.maintenanceIn},
		{"asg-terminate-in", o.ASGTerminateIn, &o.asgIn},
	} {
		if *d.dst, err = optionalDuration(d.flag, d.value); err != nil {
			return err
		}
	}
	return nil
}

func newEmulateAWSCommand(g *Globals) *cobra.Command {
	o := &emulateAWSOptions{
		Address: "127.0.0.1:1338", InstanceID: awsemu.DefaultInstanceID, InstanceType: awsemu.DefaultInstanceType,
		Zone: awsemu.DefaultZone, TokenTTLMax: awsemu.MaxTokenTTL, SpotAction: awsemu.SpotTerminate,
		SpotWarning: awsemu.DefaultSpotWarning, MaintenanceCode: awsemu.CodeSystemReboot,
		MaintenanceDuration: awsemu.DefaultMaintenanceDuration,
	}
	return newEmulatorCommand("aws",
		"Emulate the EC2 instance metadata service (IMDSv2) with spot, rebalance, maintenance and scale-in events",
		"  lifeboat emulate aws --spot-in 30s\n"+
			"  curl -X POST localhost:1338/lifeboat/spot -d '{\"in\":\"0s\",\"action\":\"stop\"}'",
		o, func(cmd *cobra.Command) error { return runEmulateAWS(cmd, g, o) })
}

func runEmulateAWS(cmd *cobra.Command, g *Globals, o *emulateAWSOptions) error {
	srv := awsemu.New(awsemu.Options{
		InstanceID: o.InstanceID, InstanceType: o.InstanceType, Zone: o.Zone, Region: o.Region,
		IMDSv1: o.IMDSv1, TokenTTLMax: o.TokenTTLMax, Log: g.Log,
	})
	if err := scheduleAWS(srv, o); err != nil {
		return err
	}
	return serveEmulator(cmd.Context(), g.Stdout, o.Address, srv, func(url, _ string) string {
		return fmt.Sprintf("AWS instance metadata emulator on %s\n"+
			"  lifeboat agent --metadata-url %s   (AWS SDKs/CLI: AWS_EC2_METADATA_SERVICE_ENDPOINT=%s)\n"+
			"  schedule events: curl -X POST %s/lifeboat/spot -d '{\"in\":\"10s\"}'   (see docs/EMULATORS.md)\n",
			url, url, url, url)
	})
}

// scheduleAWS applies the *-in flags.
func scheduleAWS(srv *awsemu.Server, o *emulateAWSOptions) error {
	if o.spotIn != nil {
		if _, err := srv.ScheduleSpot(*o.spotIn, o.SpotAction, o.SpotWarning); err != nil {
			return fmt.Errorf("--spot-in: %w", err)
		}
	}
	if o.rebalanceIn != nil {
		if _, err := srv.ScheduleRebalance(*o.rebalanceIn); err != nil {
			return fmt.Errorf("--rebalance-in: %w", err)
		}
	}
	if o.maintenanceIn != nil {
		if _, err := srv.ScheduleMaintenance(awsemu.MaintenanceRequest{
			Code: o.MaintenanceCode, In: *o.maintenanceIn, Duration: o.MaintenanceDuration,
		}); err != nil {
			return fmt.Errorf("--maintenance-code/--maintenance-in: %w", err)
		}
	}
	if o.asgIn != nil {
		if err := srv.ScheduleLifecycleState(awsemu.LifecycleTerminated, *o.asgIn); err != nil {
			return fmt.Errorf("--asg-terminate-in: %w", err)
		}
	}
	return nil
}
