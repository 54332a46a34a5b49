package awsfake

import (
	"encoding/xml"
	"net/http"
	"sort"
	"strings"
	"sync"
)

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

// Instance is an EC2 instance the fake knows.
type Instance struct {
	// ID is the instance id (i-...).
	ID string
	// PrivateDNSName is the private DNS name (ip-10-0-0-1.ec2.internal).
	PrivateDNSName string
	// Zone is the availability zone.
	Zone string
	// State is the instance state name (running if empty).
	State string
	// Tags are the instance's tags.
	Tags map[string]string
}

// EC2 is an in-memory EC2 API answering DescribeInstances over the EC2 query
// protocol.
type EC2 struct {
	mu        sync.Mutex
	instances map[string]Instance
	calls     int
}

func newEC2() *EC2 { return &EC2{instances: map[string]Instance{}} }

// AddInstance registers (or replaces) an instance.
func (e *EC2) AddInstance(in Instance) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.instances[in.ID] = in
}

// Calls counts DescribeInstances calls.
func (e *EC2) Calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type ec2Instance struct {
	InstanceID     string `xml:"instanceId"`
	PrivateDNSName string `xml:"privateDnsName"`
	InstanceState  struct {
		Code int    `xml:"code"`
		Name string `xml:"name"`
	} `xml:"instanceState"`
	Placement struct {
		AvailabilityZone string `xml:"availabilityZone"`
	} `xml:"placement"`
	TagSet []ec2Tag `xml:"tagSet>item"`
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

// ServeHTTP answers DescribeInstances (by InstanceId.N).
func (e *EC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "DescribeInstances" {
		writeEC2Error(w, "InvalidAction", "awsfake's EC2 answers DescribeInstances only")
		return
	}
	var ids []string
	for k, v := range r.Form {
		if strings.HasPrefix(k, "InstanceId.") {
			ids = append(ids, v...)
		}
	}
	sort.Strings(ids)
	e.mu.Lock()
	e.calls++
	var out []ec2Instance
	var missing []string
	for _, id := range ids {
		in, ok := e.instances[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		out = append(out, toXML(in))
	}
	e.mu.Unlock()
	if len(missing) > 0 {
		writeEC2Error(w, "InvalidInstanceID.NotFound", "The instance IDs '"+strings.Join(missing, ", ")+"' do not exist")
		return
	}
	type reservation struct {
		ReservationID string        `xml:"reservationId"`
		OwnerID       string        `xml:"ownerId"`
		Instances     []ec2Instance `xml:"instancesSet>item"`
	}
	var res []reservation
	for _, in := range out {
		res = append(res, reservation{ReservationID: "r-" + strings.TrimPrefix(in.InstanceID, "i-"), OwnerID: Account, Instances: []ec2Instance{in}})
	}
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName      xml.Name      `xml:"DescribeInstancesResponse"`
		NS           string        `xml:"xmlns,attr"`
		RequestID    string        `xml:"requestId"`
		Reservations []reservation `xml:"reservationSet>item"`
	}{NS: ec2NS, RequestID: randomID(), Reservations: res})
}

func toXML(in Instance) ec2Instance {
	x := ec2Instance{InstanceID: in.ID, PrivateDNSName: in.PrivateDNSName}
	state := in.State
	if state == "" {
		state = "running"
	}
	x.InstanceState.Name, x.InstanceState.Code = state, stateCodes[state]
	x.Placement.AvailabilityZone = in.Zone
	keys := make([]string, 0, len(in.Tags))
	for k := range in.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x.TagSet = append(x.TagSet, ec2Tag{k, in.Tags[k]})
	}
	return x
}

func writeEC2Error(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusBadRequest)
	type xmlErr struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName   xml.Name `xml:"Response"`
		Errors    []xmlErr `xml:"Errors>Error"`
		RequestID string   `xml:"RequestID"`
	}{Errors: []xmlErr{{code, msg}}, RequestID: randomID()})
}
