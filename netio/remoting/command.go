package remoting

// Serialize types carried in the high byte of the header-length word.
const (
	SerializeJSON     byte = 0
	SerializeRocketMQ byte = 1
)

// Flag bits of a command.
const (
	FlagResponse int32 = 1 << 0
	FlagOneway   int32 = 1 << 1
)

// Language codes of the binary header (JAVA=0 … OMS=11). JSON headers carry
// the name instead (languageNames).
const (
	LanguageJava   byte = 0
	LanguageCPP    byte = 1
	LanguageDotNet byte = 2
	LanguagePython byte = 3
	LanguageDelphi byte = 4
	LanguageErlang byte = 5
	LanguageRuby   byte = 6
	LanguageOther  byte = 7
	LanguageHTTP   byte = 8
	LanguageGo     byte = 9
	LanguagePHP    byte = 10
	LanguageOMS    byte = 11
)

// Command is one remoting frame: a request or a response.
//
// A Command may be reused: Reset clears it while keeping the capacity of
// Ext. After Decode, Body aliases the frame bytes handed to Decode; the
// caller owns that buffer and must keep it alive (and unchanged) for as
// long as Body is used. Header strings (Remark, Ext values) are always
// independent Go strings, safe to retain.
type Command struct {
	Code          int16
	Language      byte // binary language code; JSON encodes it by name
	Version       int16
	Opaque        int32
	Flag          int32
	Remark        string
	Ext           Ext
	Body          []byte
	SerializeType byte // SerializeJSON or SerializeRocketMQ

	// decodeScratch is reused by Decode to unescape header strings before
	// they are turned into one Go string; it never escapes to callers.
	decodeScratch []byte
	decodeSpans   []fieldSpan
}

// IsResponse reports whether the response flag bit is set.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// IsOneway reports whether the oneway flag bit is set.
func (c *Command) IsOneway() bool { return c.Flag&FlagOneway != 0 }

// Reset clears the command for reuse, keeping allocated capacity.
func (c *Command) Reset() {
	ext := c.Ext
	ext.Reset()
	*c = Command{Ext: ext, decodeScratch: c.decodeScratch[:0], decodeSpans: c.decodeSpans[:0]}
}

// Field is one extFields entry.
type Field struct {
	Key   string
	Value string
}

// Ext is the ordered extFields map. Lookups are linear: headers carry at most
// a few dozen keys and a slice scan beats a map for that size without
// allocating.
type Ext struct {
	Fields []Field
}

// Reset empties the fields, keeping capacity.
func (e *Ext) Reset() { e.Fields = e.Fields[:0] }

// Len is the number of fields.
func (e *Ext) Len() int { return len(e.Fields) }

// Get returns the value for key and whether it is present.
func (e *Ext) Get(key string) (string, bool) {
	for i := range e.Fields {
		if e.Fields[i].Key == key {
			return e.Fields[i].Value, true
		}
	}
	return "", false
}

// Set replaces the value for key, or appends it.
func (e *Ext) Set(key, value string) {
	for i := range e.Fields {
		if e.Fields[i].Key == key {
			e.Fields[i].Value = value
			return
		}
	}
	e.Fields = append(e.Fields, Field{Key: key, Value: value})
}
