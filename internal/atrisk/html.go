package atrisk

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
)

//go:embed report.html.tmpl
var reportHTML string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"join": joinReasons}).Parse(reportHTML))

// Timeline geometry of the HTML report, in SVG user units.
const (
	chartWidth  = 900.0
	labelRoom   = 220.0
	barPitch    = 20.0
	axisRoom    = 18.0
	tickTargets = 6
)

// Bar colours: leaves gracefully in time; cut short or PDB bypassed; leaves
// in time but listed for another reason (no controller, local storage, ...).
const (
	colourGraceful  = "#43a047"
	colourHard      = "#e53935"
	colourOtherRisk = "#fb8c00"
)

type htmlReport struct {
	*Report
	Timelines []htmlTimeline
}

type htmlTimeline struct {
	Name             string
	Expected         float64
	Fits             bool
	Width, Height    float64
	NoticeX, UsableX float64
	Bars             []htmlBar
	Ticks            []htmlTick
	AxisY            float64
}

type htmlBar struct {
	Key, Wave, Reasons, Fill string
	Start, End               float64
	X, Y, W, LabelX, TextY   float64
}

type htmlTick struct {
	X     float64
	Label string
}

// WriteHTML writes the report as one self-contained page (inline CSS and
// SVG, no external resource) with a timeline per node.
func WriteHTML(w io.Writer, r *Report) error {
	h := htmlReport{Report: r}
	listed := map[string]bool{}
	for _, p := range r.Pods {
		listed[p.Namespace+"/"+p.Name] = true
	}
	for _, n := range r.Nodes {
		h.Timelines = append(h.Timelines, timeline(n, r.NoticeSeconds, r.SafetyMarginSeconds, listed))
	}
	if err := reportTemplate.Execute(w, h); err != nil {
		return fmt.Errorf("rendering the HTML report: %w", err)
	}
	return nil
}

// timeline lays out one node: time runs left to right from the notice to
// the later of its end and the expected drain, one row per removed pod.
func timeline(n NodeReport, notice, margin float64, listed map[string]bool) htmlTimeline {
	span := math.Max(notice, n.ExpectedDrainSeconds)
	if span <= 0 {
		span = 1
	}
	scale := (chartWidth - labelRoom) / span
	t := htmlTimeline{Name: n.Name, Expected: n.ExpectedDrainSeconds, Fits: n.Fits, Width: chartWidth}
	t.NoticeX = notice * scale
	t.UsableX = math.Max(notice-margin, 0) * scale
	for i, s := range n.Timeline {
		x, w := s.StartSeconds*scale, math.Max((s.EndSeconds-s.StartSeconds)*scale, 1)
		y := float64(i)*barPitch + 4
		key := s.Namespace + "/" + s.Name
		fill := colourGraceful
		switch {
		case len(s.Reasons) > 0:
			fill = colourHard
		case listed[key]:
			fill = colourOtherRisk
		}
		t.Bars = append(t.Bars, htmlBar{
			Key: key, Wave: s.Wave, Reasons: joinReasons(s.Reasons), Fill: fill,
			Start: s.StartSeconds, End: s.EndSeconds,
			X: round1(x), Y: y, W: round1(w), LabelX: round1(x + w + 6), TextY: y + 11,
		})
	}
	t.Height = float64(len(n.Timeline))*barPitch + 8 + axisRoom
	t.AxisY = t.Height - 4
	step := niceStep(span / tickTargets)
	for v := 0.0; v <= span+1e-9; v += step {
		t.Ticks = append(t.Ticks, htmlTick{X: round1(v * scale), Label: fmt.Sprintf("%gs", v)})
	}
	return t
}

// niceStep rounds a tick interval up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
