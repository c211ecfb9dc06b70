package http2

import (
	"errors"

	"golang.org/x/net/http2/hpack"
)

// Bounds of header decoding.
const (
	// defaultTableSize is SETTINGS_HEADER_TABLE_SIZE until a SETTINGS frame changes it.
	defaultTableSize = 4096
	// maxTableSize caps the dynamic table a peer may announce; more is refused as a desync,
	// so that one connection never holds more than this per direction.
	maxTableSize = 1 << 16
	// maxKnown bounds the entries an unsynchronised direction tracks.
	maxKnown = 128
)

// staticTable is HPACK's static table (RFC 7541 Appendix A), index 1..61, read from the
// hpack package itself: each entry is the one-byte block "indexed field i".
var staticTable = func() []hpack.HeaderField {
	t := make([]hpack.HeaderField, 62)
	for i := 1; i < 62; i++ {
		fs, err := hpack.NewDecoder(0, nil).DecodeFull([]byte{0x80 | byte(i)})
		if err != nil || len(fs) != 1 {
			panic("hpack static table entry " + string(rune('0'+i)))
		}
		t[i] = fs[0]
	}
	return t
}()

// headerDecoder decodes the header blocks of one direction. While its table is in sync
// (the connection was seen from its start, with no loss inside a header block) it is an
// hpack.Decoder. Otherwise it walks blocks itself and reports only what is certain: static
// entries, literals, and the dynamic entries added since the loss, which are always the
// newest and so keep their indexes (an index an encoder sends is valid in its table, and the
// entries we saw added are its front).
type headerDecoder struct {
	dec    *hpack.Decoder
	synced bool
	// allowed is the table size the receiving peer announced (the bound for size updates).
	allowed uint32
	// known are the newest dynamic entries, newest first; an unknown name or value is nil.
	known []knownField
	// fields collects the decoded fields of one block; incomplete says some were not known.
	fields     []hpack.HeaderField
	incomplete bool
}

type knownField struct {
	f  hpack.HeaderField
	ok bool
}

func newHeaderDecoder(synced bool) *headerDecoder {
	d := &headerDecoder{synced: synced, allowed: defaultTableSize}
	if synced {
		d.dec = hpack.NewDecoder(defaultTableSize, func(f hpack.HeaderField) { d.fields = append(d.fields, f) })
		d.dec.SetMaxStringLength(maxBlock)
	}
	return d
}

// setAllowed records a SETTINGS_HEADER_TABLE_SIZE of the peer that decodes this direction.
// Until the SETTINGS is acknowledged the encoder may use the old or the new size, so the
// larger of the two is allowed.
func (d *headerDecoder) setAllowed(v uint32) {
	if v > maxTableSize {
		d.lose()
		return
	}
	d.allowed = max(d.allowed, v)
	if d.dec != nil {
		d.dec.SetAllowedMaxDynamicTableSize(d.allowed)
	}
}

// lose forgets the table: what the peer's encoder holds is no longer known.
func (d *headerDecoder) lose() {
	d.synced, d.dec, d.known = false, nil, d.known[:0]
}

// decode decodes one complete header block into d.fields.
func (d *headerDecoder) decode(block []byte) {
	d.fields, d.incomplete = d.fields[:0], false
	if d.synced {
		if _, err := d.dec.Write(block); err == nil {
			err = d.dec.Close()
			if err == nil {
				return
			}
		}
		// What was emitted before the error is certain; the table no longer is.
		d.lose()
		d.incomplete = true
		return
	}
	if err := d.walk(block); err != nil {
		d.known = d.known[:0]
		d.incomplete = true
	}
}

var errHPACK = errors.New("http2: malformed header block")

// walk decodes block without knowing the table from before the loss.
func (d *headerDecoder) walk(b []byte) error {
	for len(b) > 0 {
		c := b[0]
		switch {
		case c&0x80 != 0: // indexed field
			i, rest, ok := readInt(b, 7)
			if !ok || i == 0 {
				return errHPACK
			}
			b = rest
			if f, ok := d.lookup(i); ok {
				d.fields = append(d.fields, f)
			} else {
				d.incomplete = true
			}
		case c&0xe0 == 0x20: // dynamic table size update
			v, rest, ok := readInt(b, 5)
			if !ok || v > maxTableSize {
				return errHPACK
			}
			b = rest
			if v == 0 {
				d.known = d.known[:0] // emptied: entries seen from now on are all of it
			}
		default: // literal: with incremental indexing (01), without (0000) or never (0001)
			prefix := 4
			indexing := c&0xc0 == 0x40
			if indexing {
				prefix = 6
			}
			i, rest, ok := readInt(b, prefix)
			if !ok {
				return errHPACK
			}
			b = rest
			var f hpack.HeaderField
			nameOK := true
			if i == 0 {
				if f.Name, b, ok = readString(b); !ok {
					return errHPACK
				}
			} else if nf, found := d.lookup(i); found {
				f.Name = nf.Name
			} else {
				nameOK = false
			}
			if f.Value, b, ok = readString(b); !ok {
				return errHPACK
			}
			if nameOK {
				d.fields = append(d.fields, f)
			} else {
				d.incomplete = true
			}
			if indexing {
				d.add(knownField{f, nameOK})
			}
		}
	}
	return nil
}

// add puts a new entry at the front of the known entries.
func (d *headerDecoder) add(k knownField) {
	if k.f.Size() > defaultTableSize {
		// An entry larger than the table empties it and is not added; the table size is
		// not known here, so neither is what the table holds.
		d.known = d.known[:0]
		return
	}
	if len(d.known) >= maxKnown {
		d.known = d.known[:maxKnown-1]
	}
	d.known = append(d.known, knownField{})
	copy(d.known[1:], d.known)
	d.known[0] = k
}

// lookup resolves index i from the static table and the known dynamic entries.
func (d *headerDecoder) lookup(i uint64) (hpack.HeaderField, bool) {
	if i < uint64(len(staticTable)) {
		return staticTable[i], true
	}
	j := i - uint64(len(staticTable))
	if j < uint64(len(d.known)) && d.known[j].ok {
		return d.known[j].f, true
	}
	return hpack.HeaderField{}, false
}

// readInt reads an HPACK integer with an n-bit prefix (RFC 7541 5.1).
func readInt(b []byte, n int) (uint64, []byte, bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	mask := uint64(1)<<n - 1
	v := uint64(b[0]) & mask
	b = b[1:]
	if v < mask {
		return v, b, true
	}
	for shift := uint(0); shift < 28; shift += 7 {
		if len(b) == 0 {
			return 0, nil, false
		}
		c := b[0]
		b = b[1:]
		v += uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, b, true
		}
	}
	return 0, nil, false
}

// readString reads an HPACK string literal, Huffman-coded or not.
func readString(b []byte) (string, []byte, bool) {
	if len(b) == 0 {
		return "", nil, false
	}
	huff := b[0]&0x80 != 0
	n, rest, ok := readInt(b, 7)
	if !ok || n > uint64(len(rest)) {
		return "", nil, false
	}
	raw := rest[:n]
	if !huff {
		return string(raw), rest[n:], true
	}
	s, err := hpack.HuffmanDecodeToString(raw)
	if err != nil {
		return "", nil, false
	}
	return s, rest[n:], true
}
