package atrisk

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
)

func TestWriteTableAndHTML(t *testing.T) {
	b := newBuilder().rs("web", 1).pods(pod("a", 60, ownedBy("ReplicaSet", "web")), pod("b", 5))
	r := Assess(&b.c, nil, Options{Notice: 30 * time.Second, Drain: drain.Options{GracePeriodSeconds: -1}}, t0)
	var tbl bytes.Buffer
	if err := WriteTable(&tbl, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"NODE", "n1", "28s", "30s", "no",
		"grace-exceeds-notice,single-replica", "no-controller",
		"2 pod(s) would not get a graceful exit; 0 of 1 node(s) fit a 30s notice",
	} {
		if !strings.Contains(tbl.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tbl.String())
		}
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`data-node="n1" data-pods="2" data-expected="28" data-fits="false" data-atrisk="2"`,
		`data-reasons="grace-exceeds-notice,single-replica"`,
		`<g class="bar" data-pod="ns/a" data-start="0" data-end="28">`,
	} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
