package ha

// Divergence: a member rejoining after a failover may hold bytes its new
// master never had (what an old master wrote after the last commit, or a
// replica's share of it). Each member's epoch entries say which epoch
// wrote each range of its log; where two members name the same epoch at
// the same start they hold the same bytes, since one master writes an
// epoch. The replica keeps its log up to the end of the newest range it
// shares with the master (the shorter of the two), and truncates the rest
// before it fetches: Kafka's KIP-101/KIP-279 rule, in one exchange, as
// RocketMQ 5 does.

// epochRange is one entry with its end.
type epochRange struct{ epoch, start, end int64 }

// epochRanges turns entries into ranges ending at the next entry's start
// or logEnd, dropping those that hold no bytes.
func epochRanges(entries []EpochEntry, logEnd int64) []epochRange {
	out := make([]epochRange, 0, len(entries))
	for i, e := range entries {
		end := logEnd
		if i+1 < len(entries) {
			end = min(end, entries[i+1].Start)
		}
		if e.Start < end {
			out = append(out, epochRange{epoch: e.Epoch, start: e.Start, end: end})
		}
	}
	return out
}

// DivergencePoint returns where a replica's log stops agreeing with the
// master's: the end of the newest epoch range both hold from the same
// start, capped by both log ends. A replica that knows no epoch range (an
// empty log, or one written before epochs were kept) agrees up to the
// shorter log, as replication without epochs assumes. ok is false when
// the replica holds epoch ranges but shares none with the master: its log
// cannot be reconciled by truncation alone.
func DivergencePoint(master []EpochEntry, masterEnd int64, replica []EpochEntry, replicaEnd int64) (point int64, ok bool) {
	mine := epochRanges(replica, replicaEnd)
	if len(mine) == 0 {
		return min(masterEnd, replicaEnd), true
	}
	theirs := epochRanges(master, masterEnd)
	for i := len(mine) - 1; i >= 0; i-- {
		r := mine[i]
		for _, m := range theirs {
			if m.epoch == r.epoch && m.start == r.start {
				return min(m.end, r.end), true
			}
		}
	}
	return 0, false
}
