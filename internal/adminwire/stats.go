package adminwire

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// BrokerStatsItem is one window of a stats item: the messages (or bytes)
// counted in it, per second, and per request.
type BrokerStatsItem struct {
	Avgpt float64
	Sum   int64
	Tps   float64
}

// BrokerStatsData is the VIEW_BROKER_STATS_DATA body.
type BrokerStatsData struct {
	StatsDay, StatsHour, StatsMinute BrokerStatsItem
}

func appendStatsItem(dst []byte, it BrokerStatsItem) []byte {
	dst = append(dst, `{"avgpt":`...)
	dst = append(dst, JavaDouble(it.Avgpt)...)
	dst = append(dst, `,"sum":`...)
	dst = strconv.AppendInt(dst, it.Sum, 10)
	dst = append(dst, `,"tps":`...)
	dst = append(dst, JavaDouble(it.Tps)...)
	return append(dst, '}')
}

// Encode writes the fastjson form.
func (d *BrokerStatsData) Encode() []byte {
	dst := append([]byte(nil), `{"statsDay":`...)
	dst = appendStatsItem(dst, d.StatsDay)
	dst = append(dst, `,"statsHour":`...)
	dst = appendStatsItem(dst, d.StatsHour)
	dst = append(dst, `,"statsMinute":`...)
	dst = appendStatsItem(dst, d.StatsMinute)
	return append(dst, '}')
}

// DecodeBrokerStatsData reads a VIEW_BROKER_STATS_DATA body.
func DecodeBrokerStatsData(body []byte) (*BrokerStatsData, error) {
	var raw struct {
		StatsDay, StatsHour, StatsMinute struct {
			Avgpt float64 `json:"avgpt"`
			Sum   int64   `json:"sum"`
			Tps   float64 `json:"tps"`
		}
	}
	if err := unmarshal(body, &raw, "broker stats data"); err != nil {
		return nil, err
	}
	return &BrokerStatsData{StatsDay: BrokerStatsItem(raw.StatsDay), StatsHour: BrokerStatsItem(raw.StatsHour),
		StatsMinute: BrokerStatsItem(raw.StatsMinute)}, nil
}

// JavaDouble formats v as Java's Double.toString does, the form RocketMQ's
// statistics and fastjson carry: "0.0", "12.5", "1.0E7", "NaN".
func JavaDouble(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	case v == 0:
		return "0.0"
	}
	if a := math.Abs(v); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(v, 'e', -1, 64), "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	n, _ := strconv.Atoi(exp)
	return fmt.Sprintf("%sE%d", mant, n)
}
