package atrisk

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as indented JSON (the stable format of
// docs/PLAN.md).
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report the way kubectl prints objects: the nodes,
// then the pods at risk with their reasons, then the verdict.
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPODS\tEXPECTED DRAIN\tNOTICE\tFITS\tAT RISK")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\n", n.Name, n.Pods, seconds(n.ExpectedDrainSeconds), r.Notice, yesNo(n.Fits), n.AtRisk)
	}
	if len(r.Pods) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "NAMESPACE\tPOD\tNODE\tREASONS\tWHY")
		for _, p := range r.Pods {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Namespace, p.Name, p.Node, joinReasons(p.Reasons), p.Details[p.Reasons[0]])
		}
	}
	fmt.Fprintln(tw)
	if r.Summary.AllFit {
		fmt.Fprintf(tw, "every pod on %d node(s) would leave gracefully within a %s notice\n", r.Summary.Nodes, r.Notice)
	} else {
		fmt.Fprintf(tw, "%d pod(s) would not get a graceful exit; %d of %d node(s) fit a %s notice\n",
			r.Summary.PodsAtRisk, r.Summary.NodesFit, r.Summary.Nodes, r.Notice)
	}
	return tw.Flush()
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func joinReasons(rs []Reason) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}
