package actors

// Messages of the control-plane actors. Pointer types only; each actor's
// Receive has a default branch that counts what it did not expect.

// housekeepTick asks the housekeeper to run its periodic duties.
type housekeepTick struct{}

// timerTick asks the timer actor to move every due rung head.
type timerTick struct{}

// hopsStored tells the timer actor the writer finished its batch.
type hopsStored struct{ batch *hopBatch }

// txnTick asks the transaction actor to catch up with new half messages
// and to check back undecided ones that are old enough.
type txnTick struct{}

// injectPanic makes the receiving actor panic, for supervision tests.
type injectPanic struct{}

// txnStored tells the transaction actor a decision was stored.
type txnStored struct{ decision *txnDecision }

// txnCopied tells the transaction actor its check copies were stored.
type txnCopied struct{ copies *txnCopies }

// roleChanged tells the timer and transaction actors the broker became
// master at runtime: they reload their state from the replicated queues
// and cursors.
type roleChanged struct{}
