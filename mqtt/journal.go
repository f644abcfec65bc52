package mqtt

// journal persists the state of persistent sessions (placeholder: the
// durable journal lands in its own slice).
type journal struct{ gw *Gateway }

func newJournal(gw *Gateway) *journal { return &journal{gw: gw} }

func (j *journal) recover() error                                          { return nil }
func (j *journal) run()                                                    { <-j.gw.quit }
func (j *journal) snapshot() error                                         { return nil }
func (j *journal) sessionConnected(*session)                               {}
func (j *journal) sessionOffline(*session)                                 {}
func (j *journal) sessionEnded(*session, string)                           {}
func (j *journal) progress(*session)                                       {}
func (j *journal) subscribed(_ *session, _ []subscribeResult, done func()) { go done() }
func (j *journal) unsubscribed(_ *session, _ []string, done func())        { go done() }
func (j *journal) released(_ *session, _ uint16, done func())              { go done() }
func (j *journal) outbound(_ *session, _ *outMsg, done func())             { go done() }
func (j *journal) outboundReleased(_ *session, _ *outMsg, done func())     { go done() }
