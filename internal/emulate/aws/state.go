package aws

// State is a snapshot of what the emulator will answer, served at
// GET /lifeboat/state.
type State struct {
	// Spot is the scheduled spot interruption, if any.
	Spot *SpotInterruption `json:"spot,omitempty"`
	// Rebalance is the noticeTime of the scheduled recommendation, if any.
	Rebalance string `json:"rebalance,omitempty"`
	// Maintenance lists every event, active or not.
	Maintenance []MaintenanceEvent `json:"maintenance"`
	// LifecycleState is the current target lifecycle state.
	LifecycleState string `json:"lifecycleState"`
	// Faults maps paths to their fault modes.
	Faults map[string]FaultMode `json:"faults"`
}

// State returns a snapshot of the schedule and faults.
func (s *Server) State() State {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{
		Maintenance:    []MaintenanceEvent{},
		LifecycleState: s.asg.at(now),
		Faults:         s.faults.Modes(),
	}
	if s.spot != nil {
		sp := *s.spot
		st.Spot = &sp
	}
	if s.rebal != nil {
		st.Rebalance = s.rebal.Format(SpotTimeLayout)
	}
	for _, m := range s.maint {
		st.Maintenance = append(st.Maintenance, m.wire(now))
	}
	return st
}
