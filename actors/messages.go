package actors

// Messages of the control-plane actors. Pointer types only; each actor's
// Receive has a default branch that counts what it did not expect.

// housekeepTick asks the housekeeper to run its periodic duties.
type housekeepTick struct{}

func (*housekeepTick) housekeeperMsg() {}
