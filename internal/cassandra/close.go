package cassandra

import "time"

// CloseWithin closes the session, waiting at most d: the driver's Close
// waits for its connections, and a node that stopped answering (paused,
// partitioned) would hold a shutdown past its deadline. It reports whether
// the close finished; if not, the connections go with the process.
func (s *Session) CloseWithin(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
