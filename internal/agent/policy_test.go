package agent

import (
	"strings"
	"testing"

	"github.com/lifeboat-dev/lifeboat/internal/notice"
)

func TestPolicySet(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Set([]string{"freeze=cordon", " live-migration = drain "}); err != nil {
		t.Fatal(err)
	}
	if p.For(notice.KindFreeze) != ActionCordon || p.For(notice.KindMigration) != ActionDrain {
		t.Errorf("overrides not applied: %v", p)
	}
	for _, bad := range []string{"freeze", "nosuch=drain", "freeze=explode"} {
		if err := DefaultPolicy().Set([]string{bad}); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	if p.For("unknown") != ActionNone {
		t.Error("unknown kinds must do nothing")
	}
}

func TestParseJobs(t *testing.T) {
	cases := map[string]HostShutdown{
		"1234 reboot.target start waiting\n1235 shutdown.target start waiting\n": ShutdownReboot,
		"99 poweroff.target start running\n":                                     ShutdownPowerOff,
		"7 halt.target start waiting":                                            ShutdownPowerOff,
		"12 kexec.target start waiting":                                          ShutdownReboot,
		"":                                                                       ShutdownUnknown,
		"5 shutdown.target start waiting":                                        ShutdownUnknown,
	}
	for in, want := range cases {
		if got := parseJobs(in); got != want {
			t.Errorf("parseJobs(%q) = %s, want %s", strings.TrimSpace(in), got, want)
		}
	}
}
