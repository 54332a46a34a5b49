//go:build !lifeboat_agent

package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	emualibaba "github.com/lifeboat-dev/lifeboat/internal/emulate/alibaba"
	emudo "github.com/lifeboat-dev/lifeboat/internal/emulate/digitalocean"
	emutencent "github.com/lifeboat-dev/lifeboat/internal/emulate/tencent"
)

func init() {
	addEmulateCommand(newEmulateAlibabaCommand)
	addEmulateCommand(newEmulateTencentCommand)
	addEmulateCommand(newEmulateDigitalOceanCommand)
}

// emulateSpotOptions configure `lifeboat emulate alibaba` and `tencent`.
type emulateSpotOptions struct {
	// Address is the host:port to listen on.
	Address string
	// InstanceID is served at instance-id.
	InstanceID string
	// ReclaimIn is when the termination time appears ("" = never).
	ReclaimIn string
	// Notice is how far after its appearance the termination time lies.
	Notice time.Duration
	// Hardened (alibaba only) refuses requests without a session token.
	Hardened bool

	hardenedFlag bool
	reclaimIn    *time.Duration
}

// AddFlags registers the emulator's flags.
func (o *emulateSpotOptions) AddFlags(fs *pflag.FlagSet) {
	addAddressFlag(fs, &o.Address)
	fs.StringVar(&o.InstanceID, "instance-id", o.InstanceID, "Instance ID served at /latest/meta-data/instance-id.")
	fs.StringVar(&o.ReclaimIn, "reclaim-in", o.ReclaimIn, "Write the spot termination time after this long (e.g. 30s; empty: never).")
	fs.DurationVar(&o.Notice, "notice", o.Notice, "How long after it is written the termination time lies.")
	if o.hardenedFlag {
		fs.BoolVar(&o.Hardened, "hardened", o.Hardened, "Hardened mode: refuse metadata requests without a token from PUT /latest/api/token.")
	}
}

// Validate checks the flags.
func (o *emulateSpotOptions) Validate() error {
	if err := validateAddress(o.Address); err != nil {
		return err
	}
	if o.InstanceID == "" {
		return fmt.Errorf("--instance-id must not be empty")
	}
	if o.Notice <= 0 {
		return fmt.Errorf("--notice must be positive, got %s", o.Notice)
	}
	var err error
	o.reclaimIn, err = optionalDuration("reclaim-in", o.ReclaimIn)
	return err
}

func newEmulateAlibabaCommand(g *Globals) *cobra.Command {
	o := &emulateSpotOptions{
		Address: "127.0.0.1:1341", InstanceID: emualibaba.DefaultInstanceID, Notice: emualibaba.DefaultNotice, hardenedFlag: true,
	}
	return newEmulatorCommand("alibaba",
		"Emulate the Alibaba Cloud ECS metadata service with preemptible-instance reclaims (optionally in hardened mode)",
		"  lifeboat emulate alibaba --reclaim-in 30s --hardened\n"+
			"  curl -X POST localhost:1341/lifeboat/reclaim -d '{\"notice\":\"5m\"}'",
		o, func(cmd *cobra.Command) error {
			srv := emualibaba.New(emualibaba.Options{InstanceID: o.InstanceID, Hardened: o.Hardened, Log: g.Log})
			if o.reclaimIn != nil {
				srv.Reclaim(*o.reclaimIn, o.Notice)
			}
			return serveEmulator(cmd.Context(), g.Stdout, o.Address, srv, func(url, _ string) string {
				return fmt.Sprintf("Alibaba Cloud ECS metadata emulator on %s (instance %s, hardened %v)\n"+
					"  lifeboat agent --platform alibaba --metadata-url %s\n"+
					"  reclaim now: curl -X POST %s/lifeboat/reclaim   (see docs/EMULATORS.md)\n",
					url, o.InstanceID, o.Hardened, url, url)
			})
		})
}

func newEmulateTencentCommand(g *Globals) *cobra.Command {
	o := &emulateSpotOptions{Address: "127.0.0.1:1342", InstanceID: emutencent.DefaultInstanceID, Notice: emutencent.DefaultNotice}
	return newEmulatorCommand("tencent",
		"Emulate the Tencent Cloud CVM metadata service with spot reclaims (termination time in UTC+8, no zone)",
		"  lifeboat emulate tencent --reclaim-in 30s\n"+
			"  curl -X POST localhost:1342/lifeboat/reclaim -d '{\"notice\":\"2m\"}'",
		o, func(cmd *cobra.Command) error {
			srv := emutencent.New(emutencent.Options{InstanceID: o.InstanceID, Log: g.Log})
			if o.reclaimIn != nil {
				srv.Reclaim(*o.reclaimIn, o.Notice)
			}
			return serveEmulator(cmd.Context(), g.Stdout, o.Address, srv, func(url, _ string) string {
				return fmt.Sprintf("Tencent Cloud CVM metadata emulator on %s (instance %s)\n"+
					"  lifeboat agent --platform tencent --metadata-url %s\n"+
					"  reclaim now: curl -X POST %s/lifeboat/reclaim   (see docs/EMULATORS.md)\n",
					url, o.InstanceID, url, url)
			})
		})
}

// emulateDOOptions configure `lifeboat emulate digitalocean`.
type emulateDOOptions struct {
	// Address is the host:port to listen on.
	Address string
	// DropletID is served at /metadata/v1/id.
	DropletID string
	// MigrateIn is when maintenance_event turns to live_migrate ("" = never).
	MigrateIn string
	// MigrateFor is how long it stays (0: until reset).
	MigrateFor time.Duration

	migrateIn *time.Duration
}

// AddFlags registers the emulator's flags.
func (o *emulateDOOptions) AddFlags(fs *pflag.FlagSet) {
	addAddressFlag(fs, &o.Address)
	fs.StringVar(&o.DropletID, "droplet-id", o.DropletID, "Droplet ID served at /metadata/v1/id.")
	fs.StringVar(&o.MigrateIn, "migrate-in", o.MigrateIn, "Set /v1/maintenance_event to live_migrate after this long (empty: never).")
	fs.DurationVar(&o.MigrateFor, "migrate-for", o.MigrateFor, "Blank /v1/maintenance_event again this long after it was set (0: never).")
}

// Validate checks the flags.
func (o *emulateDOOptions) Validate() error {
	if err := validateAddress(o.Address); err != nil {
		return err
	}
	if o.DropletID == "" {
		return fmt.Errorf("--droplet-id must not be empty")
	}
	if o.MigrateFor < 0 {
		return fmt.Errorf("--migrate-for must not be negative, got %s", o.MigrateFor)
	}
	var err error
	o.migrateIn, err = optionalDuration("migrate-in", o.MigrateIn)
	return err
}

func newEmulateDigitalOceanCommand(g *Globals) *cobra.Command {
	o := &emulateDOOptions{Address: "127.0.0.1:1343", DropletID: emudo.DefaultDropletID}
	return newEmulatorCommand("digitalocean",
		"Emulate the DigitalOcean Droplet metadata service with live-migration maintenance events",
		"  lifeboat emulate digitalocean --migrate-in 30s --migrate-for 5m\n"+
			"  curl -X POST localhost:1343/lifeboat/migrate -d '{\"for\":\"2m\"}'",
		o, func(cmd *cobra.Command) error {
			srv := emudo.New(emudo.Options{DropletID: o.DropletID, Log: g.Log})
			if o.migrateIn != nil {
				srv.Migrate(*o.migrateIn, o.MigrateFor)
			}
			return serveEmulator(cmd.Context(), g.Stdout, o.Address, srv, func(url, _ string) string {
				return fmt.Sprintf("DigitalOcean Droplet metadata emulator on %s (droplet %s)\n"+
					"  lifeboat agent --platform digitalocean --metadata-url %s --action live-migration=taint\n"+
					"  migrate now: curl -X POST %s/lifeboat/migrate   (see docs/EMULATORS.md)\n",
					url, o.DropletID, url, url)
			})
		})
}
