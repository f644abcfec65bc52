package remoting

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxExtFields bounds the ext map of one header. Real headers carry at most
// a few dozen keys; the bound keeps duplicate-key handling linear enough that
// a hostile 16 MiB header cannot pin a CPU.
const maxExtFields = 1024

// maxJSONDepth bounds the nesting of unknown values the JSON decoder skips.
const maxJSONDepth = 64

// fieldSpan locates one ext field's text inside Command.decodeScratch until
// the scratch is turned into a string. keyStart < 0 means the key was
// interned and is already stored in the Field.
type fieldSpan struct {
	keyStart, keyEnd int32
	valStart, valEnd int32
}

var languageNames = [...]string{
	LanguageJava: "JAVA", LanguageCPP: "CPP", LanguageDotNet: "DOTNET",
	LanguagePython: "PYTHON", LanguageDelphi: "DELPHI", LanguageErlang: "ERLANG",
	LanguageRuby: "RUBY", LanguageOther: "OTHER", LanguageHTTP: "HTTP",
	LanguageGo: "GO", LanguagePHP: "PHP", LanguageOMS: "OMS",
}

// LanguageName returns the JSON name of a binary language code, or "" when
// the code has no name.
func LanguageName(code byte) string {
	if int(code) < len(languageNames) {
		return languageNames[code]
	}
	return ""
}

func languageByName(name []byte) byte {
	for code, n := range languageNames {
		if string(name) == n {
			return byte(code)
		}
	}
	return LanguageOther
}

// jsonHeaderDecoder parses a JSON header. String contents are unescaped into
// cmd.decodeScratch; finish turns the scratch into one Go string.
type jsonHeaderDecoder struct {
	in  []byte
	pos int
	cmd *Command

	remarkStart, remarkEnd int32
}

func decodeJSONHeader(in []byte, cmd *Command) error {
	d := jsonHeaderDecoder{in: in, cmd: cmd, remarkStart: -1}
	if err := d.topLevel(); err != nil {
		cmd.Ext.Reset()
		return fmt.Errorf("%w: json at byte %d: %v", ErrMalformedHeader, d.pos, err)
	}
	d.finish()
	return nil
}

func (d *jsonHeaderDecoder) topLevel() error {
	d.skipSpace()
	if !d.consume('{') {
		return errorString("expected '{'")
	}
	if err := d.members(d.topLevelMember); err != nil {
		return err
	}
	d.skipSpace()
	if d.pos != len(d.in) {
		return errorString("data after the header object")
	}
	return nil
}

// members walks the members of an object whose '{' was consumed, calling
// member with the unescaped key (valid until the next scratch write) and
// leaving the reader at the value.
func (d *jsonHeaderDecoder) members(member func(key []byte) error) error {
	d.skipSpace()
	if d.consume('}') {
		return nil
	}
	for {
		d.skipSpace()
		mark := len(d.cmd.decodeScratch)
		var err error
		if d.cmd.decodeScratch, err = d.readString(d.cmd.decodeScratch); err != nil {
			return err
		}
		d.skipSpace()
		if !d.consume(':') {
			return errorString("expected ':'")
		}
		d.skipSpace()
		if err := member(d.cmd.decodeScratch[mark:]); err != nil {
			return err
		}
		d.skipSpace()
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			return nil
		}
		return errorString("expected ',' or '}'")
	}
}

// topLevelMember decodes one header member. Keys match exactly first and
// then ignoring ASCII case, as encoding/json does.
func (d *jsonHeaderDecoder) topLevelMember(rawKey []byte) error {
	key := canonicalHeaderKey(rawKey)
	d.cmd.decodeScratch = d.cmd.decodeScratch[:len(d.cmd.decodeScratch)-len(rawKey)]
	c := d.cmd
	switch key {
	case "code":
		v, err := d.readIntOrNull(16, int64(c.Code))
		c.Code = int16(v)
		return err
	case "version":
		v, err := d.readIntOrNull(16, int64(c.Version))
		c.Version = int16(v)
		return err
	case "opaque":
		v, err := d.readIntOrNull(32, int64(c.Opaque))
		c.Opaque = int32(v)
		return err
	case "flag":
		v, err := d.readIntOrNull(32, int64(c.Flag))
		c.Flag = int32(v)
		return err
	case "language":
		return d.readLanguage()
	case "remark":
		return d.readRemark()
	case "extFields":
		return d.readExtFields()
	default:
		return d.skipValue(0)
	}
}

var headerKeys = [...]string{"code", "language", "version", "opaque", "flag", "remark", "extFields"}

func canonicalHeaderKey(key []byte) string {
	for _, k := range headerKeys {
		if string(key) == k {
			return k
		}
	}
	for _, k := range headerKeys {
		if asciiEqualFold(key, k) {
			return k
		}
	}
	return ""
}

func asciiEqualFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (d *jsonHeaderDecoder) readLanguage() error {
	switch {
	case d.consumeLiteral("null"):
		return nil
	case d.peek() == '"':
		mark := len(d.cmd.decodeScratch)
		var err error
		if d.cmd.decodeScratch, err = d.readString(d.cmd.decodeScratch); err != nil {
			return err
		}
		d.cmd.Language = languageByName(d.cmd.decodeScratch[mark:])
		d.cmd.decodeScratch = d.cmd.decodeScratch[:mark]
		return nil
	default:
		v, err := d.readInt(9)
		if err != nil {
			return err
		}
		if v < 0 || v > 255 {
			return errorString("language code out of range")
		}
		d.cmd.Language = byte(v)
		return nil
	}
}

func (d *jsonHeaderDecoder) readRemark() error {
	if d.consumeLiteral("null") {
		d.remarkStart = -1
		return nil
	}
	start := len(d.cmd.decodeScratch)
	var err error
	d.cmd.decodeScratch, err = d.readString(d.cmd.decodeScratch)
	d.remarkStart, d.remarkEnd = int32(start), int32(len(d.cmd.decodeScratch))
	return err
}

func (d *jsonHeaderDecoder) readExtFields() error {
	if d.consumeLiteral("null") {
		return nil
	}
	if !d.consume('{') {
		return errorString("extFields is not an object")
	}
	return d.members(d.extMember)
}

// extMember records one ext entry. Values must be strings or null: the Go
// client drops a whole frame whose ext holds a number, so we refuse them too.
func (d *jsonHeaderDecoder) extMember(rawKey []byte) error {
	c := d.cmd
	if len(c.Ext.Fields) >= maxExtFields {
		return errorString("too many ext fields")
	}
	span := fieldSpan{keyStart: -1}
	key, interned := internExtKey(rawKey)
	if interned {
		c.decodeScratch = c.decodeScratch[:len(c.decodeScratch)-len(rawKey)]
	} else {
		span.keyEnd = int32(len(c.decodeScratch))
		span.keyStart = span.keyEnd - int32(len(rawKey))
	}
	span.valStart = int32(len(c.decodeScratch))
	if !d.consumeLiteral("null") {
		if d.peek() != '"' {
			return errorString("ext value is not a string")
		}
		var err error
		if c.decodeScratch, err = d.readString(c.decodeScratch); err != nil {
			return err
		}
	}
	span.valEnd = int32(len(c.decodeScratch))
	c.Ext.Fields = append(c.Ext.Fields, Field{Key: key})
	c.decodeSpans = append(c.decodeSpans, span)
	return nil
}

// finish turns the scratch into one string and points the remark and every
// ext field into it, then applies last-one-wins to duplicate keys.
func (d *jsonHeaderDecoder) finish() {
	c := d.cmd
	text := string(c.decodeScratch)
	if d.remarkStart >= 0 {
		c.Remark = text[d.remarkStart:d.remarkEnd]
	}
	for i, span := range c.decodeSpans {
		f := &c.Ext.Fields[i]
		if span.keyStart >= 0 {
			f.Key = text[span.keyStart:span.keyEnd]
		}
		f.Value = text[span.valStart:span.valEnd]
	}
	c.decodeScratch = c.decodeScratch[:0]
	c.decodeSpans = c.decodeSpans[:0]
	dedupFields(&c.Ext)
}

// dedupFields keeps the first position and the last value of each key, the
// result Ext.Set would give when applied in order.
func dedupFields(e *Ext) {
	kept := e.Fields[:0]
	for _, f := range e.Fields {
		replaced := false
		for i := range kept {
			if kept[i].Key == f.Key {
				kept[i].Value = f.Value
				replaced = true
				break
			}
		}
		if !replaced {
			kept = append(kept, f)
		}
	}
	clear(e.Fields[len(kept):])
	e.Fields = kept
}

type errorString string

func (e errorString) Error() string { return string(e) }

func (d *jsonHeaderDecoder) skipSpace() {
	for d.pos < len(d.in) {
		switch d.in[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonHeaderDecoder) peek() byte {
	if d.pos < len(d.in) {
		return d.in[d.pos]
	}
	return 0
}

func (d *jsonHeaderDecoder) consume(c byte) bool {
	if d.pos < len(d.in) && d.in[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *jsonHeaderDecoder) consumeLiteral(lit string) bool {
	if len(d.in)-d.pos >= len(lit) && string(d.in[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return true
	}
	return false
}

// readIntOrNull reads an integer of the given bit size, or null (which keeps
// the current value, as encoding/json does).
func (d *jsonHeaderDecoder) readIntOrNull(bits int, current int64) (int64, error) {
	if d.consumeLiteral("null") {
		return current, nil
	}
	return d.readInt(bits)
}

// readInt reads a JSON number that must be an integer fitting bits.
func (d *jsonHeaderDecoder) readInt(bits int) (int64, error) {
	start := d.pos
	integral, err := d.scanNumber()
	if err != nil {
		return 0, err
	}
	if !integral {
		return 0, errorString("number is not an integer")
	}
	v, err := strconv.ParseInt(string(d.in[start:d.pos]), 10, bits)
	if err != nil {
		return 0, errorString("integer out of range")
	}
	return v, nil
}

// scanNumber consumes one JSON number and reports whether it had neither a
// fraction nor an exponent.
func (d *jsonHeaderDecoder) scanNumber() (integral bool, err error) {
	d.consume('-')
	switch {
	case d.consume('0'):
	case d.pos < len(d.in) && '1' <= d.in[d.pos] && d.in[d.pos] <= '9':
		d.skipDigits()
	default:
		return false, errorString("invalid number")
	}
	integral = true
	if d.consume('.') {
		integral = false
		if d.skipDigits() == 0 {
			return false, errorString("invalid fraction")
		}
	}
	if d.consume('e') || d.consume('E') {
		integral = false
		if !d.consume('+') {
			d.consume('-')
		}
		if d.skipDigits() == 0 {
			return false, errorString("invalid exponent")
		}
	}
	return integral, nil
}

func (d *jsonHeaderDecoder) skipDigits() int {
	start := d.pos
	for d.pos < len(d.in) && '0' <= d.in[d.pos] && d.in[d.pos] <= '9' {
		d.pos++
	}
	return d.pos - start
}

// skipValue validates and skips any JSON value.
func (d *jsonHeaderDecoder) skipValue(depth int) error {
	if depth > maxJSONDepth {
		return errorString("nesting too deep")
	}
	switch c := d.peek(); {
	case c == '"':
		mark := len(d.cmd.decodeScratch)
		var err error
		d.cmd.decodeScratch, err = d.readString(d.cmd.decodeScratch)
		d.cmd.decodeScratch = d.cmd.decodeScratch[:mark]
		return err
	case c == '{':
		d.pos++
		return d.members(func(key []byte) error {
			d.cmd.decodeScratch = d.cmd.decodeScratch[:len(d.cmd.decodeScratch)-len(key)]
			return d.skipValue(depth + 1)
		})
	case c == '[':
		d.pos++
		return d.skipArray(depth)
	case d.consumeLiteral("true"), d.consumeLiteral("false"), d.consumeLiteral("null"):
		return nil
	default:
		_, err := d.scanNumber()
		return err
	}
}

func (d *jsonHeaderDecoder) skipArray(depth int) error {
	d.skipSpace()
	if d.consume(']') {
		return nil
	}
	for {
		d.skipSpace()
		if err := d.skipValue(depth + 1); err != nil {
			return err
		}
		d.skipSpace()
		if d.consume(',') {
			continue
		}
		if d.consume(']') {
			return nil
		}
		return errorString("expected ',' or ']'")
	}
}

// readString consumes a JSON string and appends its unescaped UTF-8 to dst.
// Invalid UTF-8 and unpaired surrogates become U+FFFD, as in encoding/json.
func (d *jsonHeaderDecoder) readString(dst []byte) ([]byte, error) {
	if !d.consume('"') {
		return dst, errorString("expected a string")
	}
	for {
		run := d.pos
		for run < len(d.in) && d.in[run] >= 0x20 && d.in[run] < utf8.RuneSelf && d.in[run] != '"' && d.in[run] != '\\' {
			run++
		}
		dst = append(dst, d.in[d.pos:run]...)
		d.pos = run
		if d.pos >= len(d.in) {
			return dst, errorString("unterminated string")
		}
		switch c := d.in[d.pos]; {
		case c == '"':
			d.pos++
			return dst, nil
		case c == '\\':
			var err error
			if dst, err = d.readEscape(dst); err != nil {
				return dst, err
			}
		case c < 0x20:
			return dst, errorString("control character in string")
		default:
			r, size := utf8.DecodeRune(d.in[d.pos:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, d.in[d.pos:d.pos+size]...)
			}
			d.pos += size
		}
	}
}

func (d *jsonHeaderDecoder) readEscape(dst []byte) ([]byte, error) {
	if d.pos+1 >= len(d.in) {
		return dst, errorString("unterminated escape")
	}
	c := d.in[d.pos+1]
	d.pos += 2
	switch c {
	case '"', '\\', '/':
		return append(dst, c), nil
	case 'b':
		return append(dst, '\b'), nil
	case 'f':
		return append(dst, '\f'), nil
	case 'n':
		return append(dst, '\n'), nil
	case 'r':
		return append(dst, '\r'), nil
	case 't':
		return append(dst, '\t'), nil
	case 'u':
		r, ok := d.readHex4()
		if !ok {
			return dst, errorString("invalid \\u escape")
		}
		if utf16.IsSurrogate(r) {
			r = d.completeSurrogate(r)
		}
		return utf8.AppendRune(dst, r), nil
	default:
		return dst, errorString("invalid escape")
	}
}

// completeSurrogate pairs a high surrogate with a following \uXXXX low
// surrogate; anything else yields U+FFFD and leaves the input untouched.
func (d *jsonHeaderDecoder) completeSurrogate(high rune) rune {
	if d.pos+1 < len(d.in) && d.in[d.pos] == '\\' && d.in[d.pos+1] == 'u' {
		save := d.pos
		d.pos += 2
		if low, ok := d.readHex4(); ok {
			if r := utf16.DecodeRune(high, low); r != utf8.RuneError {
				return r
			}
		}
		d.pos = save
	}
	return utf8.RuneError
}

func (d *jsonHeaderDecoder) readHex4() (rune, bool) {
	if len(d.in)-d.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.in[d.pos : d.pos+4] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	d.pos += 4
	return r, true
}

// appendJSONHeader appends the compact header the Go client sends:
// code, language, version, opaque, flag, remark, extFields, every ext value
// a JSON string.
func appendJSONHeader(dst []byte, c *Command) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code), 10)
	dst = append(dst, `,"language":`...)
	if name := LanguageName(c.Language); name != "" {
		dst = appendJSONString(dst, name)
	} else {
		dst = strconv.AppendUint(dst, uint64(c.Language), 10)
	}
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, int64(c.Version), 10)
	dst = append(dst, `,"opaque":`...)
	dst = strconv.AppendInt(dst, int64(c.Opaque), 10)
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(c.Flag), 10)
	dst = append(dst, `,"remark":`...)
	dst = appendJSONString(dst, c.Remark)
	dst = append(dst, `,"extFields":{`...)
	for i, f := range c.Ext.Fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, f.Key)
		dst = append(dst, ':')
		dst = appendJSONString(dst, f.Value)
	}
	return append(dst, "}}"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s exactly as encoding/json.Marshal does (HTML
// escaping on, as jsoniter's default config in the Go client): invalid UTF-8
// becomes \ufffd, so the output always decodes back to what was meant.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
