package perf

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuUsage is CPU time over wall time, in percent of one core.
type cpuUsage struct{ clientPct, serverPct float64 }

type cpuSample struct {
	at        time.Time
	self      time.Duration
	serverPID int
	server    time.Duration
	serverOK  bool
}

// startCPU samples this process's CPU time and, if serverPID > 0, the
// server's.
func startCPU(serverPID int) cpuSample {
	s := cpuSample{at: time.Now(), self: selfCPU(), serverPID: serverPID}
	if serverPID > 0 {
		s.server, s.serverOK = procCPU(serverPID)
	}
	return s
}

func (s cpuSample) stop() cpuUsage {
	wall := time.Since(s.at).Seconds()
	if wall <= 0 {
		return cpuUsage{}
	}
	u := cpuUsage{clientPct: 100 * (selfCPU() - s.self).Seconds() / wall}
	if s.serverOK {
		if now, ok := procCPU(s.serverPID); ok {
			u.serverPct = 100 * (now - s.server).Seconds() / wall
		}
	}
	return u
}

// procCPU reads a process's user plus system time from /proc/<pid>/stat
// (Linux; USER_HZ is 100 on every Linux architecture Go supports).
func procCPU(pid int) (time.Duration, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	return parseProcStat(string(raw))
}

// parseProcStat reads utime and stime (fields 14 and 15) from the text of
// /proc/<pid>/stat; the command name in field 2 may hold spaces, so fields
// are counted after its closing parenthesis.
func parseProcStat(stat string) (time.Duration, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	const limit = 1 << 40 // ticks: 348 years, far below overflow
	if err1 != nil || err2 != nil || utime < 0 || stime < 0 || utime > limit || stime > limit {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}
