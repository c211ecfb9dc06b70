package event

import "time"

// appendTime writes t as time.Time.MarshalJSON does: RFC 3339 with the nanoseconds, their
// trailing zeros cut, and Z or the zone offset. Times between the years 0 and 9999 with a
// zone offset under a day take a direct path; the rest, which encoding/json refuses, go through
// time.AppendFormat, whose RFC3339Nano layout is what MarshalJSON uses.
func appendTime(b []byte, t time.Time) []byte {
	offset, ok := direct(t)
	if !ok {
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	}
	return appendFraction(appendSeconds(b, t, offset), t, offset)
}

// secondsLen is the length of what appendSeconds writes: `"2006-01-02T15:04:05`.
const secondsLen = 20

// appendTimeLike writes t as appendTime does. When t is in the same second and location as
// ref, whose appendTime text is refText (an event's end and its timestamp, most often), the
// date and clock are copied from it.
func appendTimeLike(b []byte, t, ref time.Time, refText []byte) []byte {
	if t.Unix() == ref.Unix() && t.Location() == ref.Location() && len(refText) > secondsLen {
		if offset, ok := direct(t); ok {
			return appendFraction(append(b, refText[:secondsLen]...), t, offset)
		}
	}
	return appendTime(b, t)
}

// direct returns t's zone offset, and whether t takes appendTime's direct path: a year from
// 0 to 9999 and an offset under a day.
func direct(t time.Time) (int, bool) {
	_, offset := t.Zone()
	sec := t.Unix() + int64(offset)
	const (
		minSec = -62167219200 // 0000-01-01T00:00:00
		maxSec = 253402300800 // 10000-01-01T00:00:00
	)
	return offset, sec >= minSec && sec < maxSec && offset > -86400 && offset < 86400
}

// appendSeconds writes the opening quote, the date and the clock of t to the second, at the
// zone offset (which direct accepted).
func appendSeconds(b []byte, t time.Time, offset int) []byte {
	const minSec = -62167219200 // 0000-01-01T00:00:00
	sec := t.Unix() + int64(offset)
	// Days since 1970-01-01 to a civil date: Howard Hinnant's civil_from_days, with its
	// years starting on March 1st. The shift by 400 years keeps every division on
	// non-negative numbers.
	const shift = 146097 // days in 400 years
	days := (sec - minSec) / 86400
	clock := int(sec - minSec - days*86400)
	z := days - 719528 + 719468 + shift // days since 1970-01-01, then since -0400-03-01
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := int(doy - (153*mp+2)/5 + 1)
	month := int(mp + 3)
	year := int(yoe+era*400) - 400
	if month > 12 {
		month -= 12
		year++
	}
	b = append(b, '"', digits[year/1000], digits[year/100%10], digits[year/10%10], digits[year%10], '-')
	b = append2(b, month, '-')
	b = append2(b, day, 'T')
	b = append2(b, clock/3600, ':')
	b = append2(b, clock/60%60, ':')
	return append(b, digits[clock%60/10], digits[clock%10])
}

// appendFraction writes the nanoseconds of t, their trailing zeros cut, the zone and the
// closing quote.
func appendFraction(b []byte, t time.Time, offset int) []byte {
	if ns := t.Nanosecond(); ns != 0 {
		// Three groups of three digits, but for the groups of zeros at the end (captures
		// have microseconds), then the trailing zeros of the last group cut.
		hi, mid, lo := ns/1e6, ns/1e3%1e3, ns%1e3
		b = append(b, '.', digits[hi/100], pairs[hi%100*2], pairs[hi%100*2+1])
		if mid|lo != 0 {
			b = append(b, digits[mid/100], pairs[mid%100*2], pairs[mid%100*2+1])
		}
		if lo != 0 {
			b = append(b, digits[lo/100], pairs[lo%100*2], pairs[lo%100*2+1])
		}
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	if offset == 0 {
		return append(b, 'Z', '"')
	}
	zone := offset / 60
	if zone < 0 {
		b = append(b, '-')
		zone = -zone
	} else {
		b = append(b, '+')
	}
	b = append2(b, zone/60, ':')
	return append2(b, zone%60, '"')
}

const digits = "0123456789"

// append2 writes v (0 to 99) in two digits, then sep.
func append2(b []byte, v int, sep byte) []byte {
	return append(b, digits[v/10], digits[v%10], sep)
}
