package ops

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRateLimitedError measures a repeated error line that the
// limiter drops (the hot-path case) and one it lets through.
func BenchmarkRateLimitedError(b *testing.B) {
	for _, limit := range []int{0, 5} {
		b.Run("limit="+strconv.Itoa(limit), func(b *testing.B) {
			rl := NewRateLimiter(slog.NewTextHandler(io.Discard, nil), limit, time.Now)
			log := slog.New(rl)
			b.ReportAllocs()
			b.SetBytes(int64(len("store append failed")))
			for i := 0; i < b.N; i++ {
				log.LogAttrs(context.Background(), slog.LevelError, "store append failed", slog.Int("n", i))
			}
			b.StopTimer()
			if limit > 0 && b.N > 100 && rl.Suppressed() == 0 {
				b.Fatal("nothing was suppressed")
			}
		})
	}
}
