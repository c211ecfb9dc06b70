package mongodb

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/audit-io/wire-audit/capture/event"
)

// jsonOut writes the rewritten command as relaxed Extended JSON, byte for byte what
// bson.MarshalExtJSON(doc, false, false) gives for the BSON document bsonOut builds, without
// building it and without the driver's allocations per value (about a hundred per command).
// A value it does not write itself (decimal128, regex, DBPointer, JavaScript, symbol, code
// with scope, old binary, a raw document, or bytes the driver would reject) sets passed: the
// caller then renders the whole command with the driver. The differential tests and
// FuzzExtJSON hold it to the driver.
type jsonOut struct {
	buf []byte
	// arrays says, for each open container, whether it is an array (its keys are not written).
	arrays []bool
	passed bool
}

func (j *jsonOut) reset() {
	j.buf, j.arrays, j.passed = j.buf[:0], j.arrays[:0], false
}

// key writes the separator and, inside a document, the key of the next element.
func (j *jsonOut) key(k []byte) {
	if len(j.arrays) == 0 {
		return
	}
	if c := j.buf[len(j.buf)-1]; c != '{' && c != '[' {
		j.buf = append(j.buf, ',')
	}
	if !j.arrays[len(j.arrays)-1] {
		j.buf = event.AppendString(j.buf, k)
		j.buf = append(j.buf, ':')
	}
}

func (j *jsonOut) open(k []byte, array bool) {
	j.key(k)
	c := byte('{')
	if array {
		c = '['
	}
	j.buf = append(j.buf, c)
	j.arrays = append(j.arrays, array)
}

func (j *jsonOut) close() {
	c := byte('}')
	if j.arrays[len(j.arrays)-1] {
		c = ']'
	}
	j.buf = append(j.buf, c)
	j.arrays = j.arrays[:len(j.arrays)-1]
}

func (j *jsonOut) hidden(k []byte) {
	j.key(k)
	j.buf = append(j.buf, `"`+mask+`"`...)
}

func (j *jsonOut) value(k []byte, v bsoncore.Value) {
	if j.passed {
		return
	}
	j.key(k)
	var ok bool
	j.buf, ok = appendExtJSON(j.buf, v)
	if !ok {
		j.passed = true
	}
}

// rfc3339Milli is the driver's layout of a relaxed $date.
const rfc3339Milli = "2006-01-02T15:04:05.999Z07:00"

// appendExtJSON appends the relaxed Extended JSON of the scalar v as the driver's
// extJSONValueWriter writes it; ok is false for a value it leaves to the driver.
func appendExtJSON(dst []byte, v bsoncore.Value) ([]byte, bool) {
	d := v.Data
	switch v.Type {
	case bsoncore.TypeDouble:
		if len(d) != 8 {
			return dst, false
		}
		return appendDouble(dst, math.Float64frombits(binary.LittleEndian.Uint64(d))), true
	case bsoncore.TypeString:
		s, ok := stringBytes(d)
		if !ok {
			return dst, false
		}
		return event.AppendString(dst, s), true
	case bsoncore.TypeBinary:
		if len(d) < 5 || d[4] == 0x02 { // old binary: the driver reads a second length
			return dst, false
		}
		if n := int32(binary.LittleEndian.Uint32(d)); n < 0 || int(n) != len(d)-5 {
			return dst, false
		}
		dst = append(dst, `{"$binary":{"base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, d[5:])
		dst = append(dst, `","subType":"`...)
		dst = hex.AppendEncode(dst, d[4:5])
		return append(dst, `"}}`...), true
	case bsoncore.TypeUndefined:
		return append(dst, `{"$undefined":true}`...), true
	case bsoncore.TypeObjectID:
		if len(d) != 12 {
			return dst, false
		}
		dst = append(dst, `{"$oid":"`...)
		dst = hex.AppendEncode(dst, d)
		return append(dst, `"}`...), true
	case bsoncore.TypeBoolean:
		if len(d) != 1 || d[0] > 1 {
			return dst, false // the driver fails on any other byte
		}
		return strconv.AppendBool(dst, d[0] == 1), true
	case bsoncore.TypeDateTime:
		if len(d) != 8 {
			return dst, false
		}
		return appendDate(dst, int64(binary.LittleEndian.Uint64(d))), true
	case bsoncore.TypeNull:
		return append(dst, "null"...), true
	case bsoncore.TypeInt32:
		if len(d) != 4 {
			return dst, false
		}
		return strconv.AppendInt(dst, int64(int32(binary.LittleEndian.Uint32(d))), 10), true
	case bsoncore.TypeTimestamp:
		if len(d) != 8 {
			return dst, false
		}
		// The increment comes first on the wire, then the seconds.
		dst = append(dst, `{"$timestamp":{"t":`...)
		dst = strconv.AppendUint(dst, uint64(binary.LittleEndian.Uint32(d[4:])), 10)
		dst = append(dst, `,"i":`...)
		dst = strconv.AppendUint(dst, uint64(binary.LittleEndian.Uint32(d)), 10)
		return append(dst, `}}`...), true
	case bsoncore.TypeInt64:
		if len(d) != 8 {
			return dst, false
		}
		return strconv.AppendInt(dst, int64(binary.LittleEndian.Uint64(d)), 10), true
	case bsoncore.TypeMinKey:
		return append(dst, `{"$minKey":1}`...), true
	case bsoncore.TypeMaxKey:
		return append(dst, `{"$maxKey":1}`...), true
	}
	return dst, false
}

// stringBytes is the text of a BSON string value, when the driver would read it.
func stringBytes(d []byte) ([]byte, bool) {
	if len(d) < 5 {
		return nil, false
	}
	n := int32(binary.LittleEndian.Uint32(d))
	if n <= 0 || int(n) != len(d)-4 || d[len(d)-1] != 0 {
		return nil, false
	}
	return d[4 : len(d)-1], true
}

// appendDouble follows the driver's formatDouble: the shortest 'G' form, ".0" after an
// integral value, and $numberDouble for the values JSON has no number for.
func appendDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, `{"$numberDouble":"Infinity"}`...)
	case math.IsInf(f, -1):
		return append(dst, `{"$numberDouble":"-Infinity"}`...)
	case math.IsNaN(f):
		return append(dst, `{"$numberDouble":"NaN"}`...)
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, 'G', -1, 64)
	for _, c := range dst[n:] {
		if c == 'E' || c == '.' {
			return dst
		}
	}
	return append(dst, ".0"...)
}

// appendDate writes a datetime (milliseconds since the epoch) as the driver does: an
// RFC 3339 string for the years 1970 to 9999, the number otherwise.
func appendDate(dst []byte, ms int64) []byte {
	t := time.Unix(ms/1e3, ms%1e3*1e6).UTC()
	if y := t.Year(); y < 1970 || y > 9999 {
		dst = append(dst, `{"$date":{"$numberLong":"`...)
		dst = strconv.AppendInt(dst, ms, 10)
		return append(dst, `"}}`...)
	}
	dst = append(dst, `{"$date":"`...)
	dst = t.AppendFormat(dst, rfc3339Milli)
	return append(dst, `"}`...)
}
