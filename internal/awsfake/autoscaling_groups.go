package awsfake

import (
	"encoding/xml"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Group is an Auto Scaling group as far as DetachInstances and
// DescribeAutoScalingInstances see it.
type Group struct {
	// Name of the group.
	Name string
	// Desired is the desired capacity.
	Desired int
	// Instances are the instance IDs in the group.
	Instances []string
	// Detached lists the instances detached so far, in order.
	Detached []string
	// Replacements counts instances the group would launch because a
	// detach did not decrement the desired capacity.
	Replacements int
}

// AddGroup creates or replaces a group.
func (a *AutoScaling) AddGroup(g Group) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.groups == nil {
		a.groups = map[string]*Group{}
	}
	g.Instances = slices.Clone(g.Instances)
	a.groups[g.Name] = &g
}

// Group returns a copy of a group.
func (a *AutoScaling) Group(name string) (Group, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g, ok := a.groups[name]
	if !ok {
		return Group{}, false
	}
	c := *g
	c.Instances, c.Detached = slices.Clone(g.Instances), slices.Clone(g.Detached)
	return c, true
}

// members reads a query-protocol list: Prefix.member.1, .2, ...
func members(form func(string) string, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v := form(prefix + ".member." + strconv.Itoa(i))
		if v == "" {
			return out
		}
		out = append(out, v)
	}
}

// serveGroups answers DetachInstances and DescribeAutoScalingInstances;
// it reports false for other actions.
func (a *AutoScaling) serveGroups(w http.ResponseWriter, r *http.Request) bool {
	action := r.Form.Get("Action")
	var result any
	var err error
	switch action {
	case "DetachInstances":
		result, err = a.detach(r.Form.Get)
	case "DescribeAutoScalingInstances":
		result = a.describeInstances(members(r.Form.Get, "InstanceIds"))
	default:
		return false
	}
	if err != nil {
		writeQueryError(w, asgNS, err)
		return true
	}
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName  xml.Name
		NS       string `xml:"xmlns,attr"`
		Result   any
		Metadata struct {
			RequestID string `xml:"RequestId"`
		} `xml:"ResponseMetadata"`
	}{XMLName: xml.Name{Local: action + "Response"}, NS: asgNS, Result: result})
	return true
}

// activity is an Auto Scaling activity in a DetachInstances answer.
type activity struct {
	ActivityID           string `xml:"ActivityId"`
	AutoScalingGroupName string
	Cause                string
	Description          string
	Progress             int
	StartTime            string
	StatusCode           string
}

func (a *AutoScaling) detach(form func(string) string) (any, error) {
	name := form("AutoScalingGroupName")
	decrement := form("ShouldDecrementDesiredCapacity")
	ids := members(form, "InstanceIds")
	switch {
	case name == "":
		return nil, &queryError{"ValidationError", "AutoScalingGroupName is required"}
	case decrement != "true" && decrement != "false":
		return nil, &queryError{"ValidationError", "ShouldDecrementDesiredCapacity is required"}
	case len(ids) > 20:
		return nil, &queryError{"ValidationError", "at most 20 instances"}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	g, ok := a.groups[name]
	if !ok {
		return nil, &queryError{"ValidationError", "AutoScalingGroup name not found - " + name}
	}
	for _, id := range ids {
		if !slices.Contains(g.Instances, id) {
			return nil, &queryError{"ValidationError", "The instance " + id + " is not part of Auto Scaling group " + name + "."}
		}
	}
	var acts []activity
	for _, id := range ids {
		g.Instances = slices.DeleteFunc(g.Instances, func(s string) bool { return s == id })
		g.Detached = append(g.Detached, id)
		cause := "At " + a.clock.Now().UTC().Format(time.RFC3339) + " instance " + id + " was detached in response to a user request"
		if decrement == "true" {
			g.Desired--
			cause += ", shrinking the capacity from " + strconv.Itoa(g.Desired+1) + " to " + strconv.Itoa(g.Desired) + "."
		} else {
			g.Replacements++
			cause += "."
		}
		acts = append(acts, activity{
			ActivityID: randomID(), AutoScalingGroupName: name, Cause: cause, Description: "Detaching EC2 instance: " + id,
			Progress: 50, StartTime: a.clock.Now().UTC().Format(time.RFC3339), StatusCode: "InProgress",
		})
	}
	return struct {
		XMLName    xml.Name   `xml:"DetachInstancesResult"`
		Activities []activity `xml:"Activities>member"`
	}{Activities: acts}, nil
}

// asgInstance is one member of a DescribeAutoScalingInstances answer.
type asgInstance struct {
	InstanceID           string `xml:"InstanceId"`
	AutoScalingGroupName string
	AvailabilityZone     string
	LifecycleState       string
	HealthStatus         string
	ProtectedFromScaleIn bool
}

func (a *AutoScaling) describeInstances(ids []string) any {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []asgInstance
	for _, id := range ids {
		for _, g := range a.groups {
			if slices.Contains(g.Instances, id) {
				out = append(out, asgInstance{
					InstanceID: id, AutoScalingGroupName: g.Name, AvailabilityZone: "us-east-1a",
					LifecycleState: "InService", HealthStatus: "HEALTHY",
				})
			}
		}
	}
	return struct {
		XMLName   xml.Name      `xml:"DescribeAutoScalingInstancesResult"`
		Instances []asgInstance `xml:"AutoScalingInstances>member"`
	}{Instances: out}
}
