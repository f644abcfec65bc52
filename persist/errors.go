package persist

import "errors"

// Error classes. Callers test them with errors.Is; the concrete errors carry
// the segment, offset and byte counts.
var (
	// ErrCorruption: bytes that fail their checksum or structure where a
	// valid record was expected. Never served to readers.
	ErrCorruption = errors.New("persist: corruption")
	// ErrTornTail: a partially written record at the end of the log.
	ErrTornTail = errors.New("persist: torn tail")
	// ErrDiskFull: no space for a new segment; appends fail until space
	// returns, reads keep working.
	ErrDiskFull = errors.New("persist: disk full")
	// ErrSyncFailed: a flush failed; the batch it covered was rolled back
	// and not acknowledged. Retryable.
	ErrSyncFailed = errors.New("persist: sync failed")
	// ErrWriteFailed: handing appended records to the log file failed; the
	// batch was rolled back and not acknowledged. Retryable.
	ErrWriteFailed = errors.New("persist: write failed")
	// ErrMessageTooLarge: the record does not fit in one segment or exceeds
	// the configured limit.
	ErrMessageTooLarge = errors.New("persist: message too large")
	// ErrOffsetOutOfRange: a read below the minimum or above the published
	// end of the log or of a queue.
	ErrOffsetOutOfRange = errors.New("persist: offset out of range")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("persist: closed")
)
