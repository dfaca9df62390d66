public import Foundation

/// Parsing and formatting of the dates carried by the `Expires` cookie attribute.
///
/// `parse` is the liberal cookie-date algorithm of RFC 6265bis section 5.1.1 that
/// user agents apply to whatever a server sent; `format` produces the strict
/// IMF-fixdate form (RFC 9110 section 5.6.7) that servers should send
/// (RFC 6265bis section 4.1.1, `sane-cookie-date`). Both work in UTC on whole seconds
/// with a proleptic Gregorian calendar and need no `Calendar` or locale.
public enum CookieDate {
    /// Parses a cookie-date with the RFC 6265bis section 5.1.1 algorithm.
    ///
    /// The string is split into date-tokens at delimiter octets; the first token that
    /// matches the time production gives hour, minute and second, the first remaining
    /// one that matches day-of-month gives the day, then month, then year (each
    /// production may be followed by arbitrary octets after a non-digit). Two-digit
    /// years 70–99 map to 1970–1999 and 0–69 to 2000–2069.
    ///
    /// - Returns: The instant in UTC, or `nil` when a component is missing or out of
    ///   range (day 1–31, year ≥ 1601, hour ≤ 23, minute ≤ 59, second ≤ 59) or the
    ///   date does not exist (such as 30 February). Never traps.
    public static func parse(_ string: String) -> Date? {
        var time: (hour: Int, minute: Int, second: Int)?
        var dayOfMonth: Int?
        var month: Int?
        var year: Int?

        for token in tokens(of: Array(string.utf8)) {
            if time == nil, let parsed = matchTime(token) {
                time = parsed
            } else if dayOfMonth == nil, let parsed = matchDigits(token, minimum: 1, maximum: 2) {
                dayOfMonth = parsed
            } else if month == nil, let parsed = matchMonth(token) {
                month = parsed
            } else if year == nil, let parsed = matchDigits(token, minimum: 2, maximum: 4) {
                year = parsed
            }
        }

        guard let time, let dayOfMonth, let month, var year else {
            return nil
        }
        if (70...99).contains(year) {
            year += 1900
        } else if (0...69).contains(year) {
            year += 2000
        }
        guard (1...31).contains(dayOfMonth), year >= 1601,
            time.hour <= 23, time.minute <= 59, time.second <= 59,
            dayOfMonth <= daysInMonth(month, year: year)
        else {
            return nil
        }
        let days = daysFromCivil(year: year, month: month, day: dayOfMonth)
        let seconds = days * 86_400 + time.hour * 3_600 + time.minute * 60 + time.second
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// Formats `date` as an IMF-fixdate, e.g. `"Sun, 06 Nov 1994 08:49:37 GMT"`.
    ///
    /// RFC 9110 section 5.6.7, as required for `Expires` by RFC 6265bis section 4.1.1.
    /// Fractions of a second are truncated towards the past. Instants outside the
    /// years 0001–9999 are clamped to that range, so the result always has a
    /// four-digit year; only years 1601–9999 survive a round trip through `parse`.
    public static func format(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        let clamped: Double
        if interval.isNaN {
            clamped = 0
        } else {
            clamped = min(max(interval.rounded(.down), Double(earliestSeconds)), Double(latestSeconds))
        }
        let total = Int(clamped)
        let days = floorDivide(total, 86_400)
        let secondsOfDay = total - days * 86_400
        let (year, month, day) = civilFromDays(days)
        let weekday = weekdayNames[((days % 7) + 11) % 7]  // 1970-01-01 was a Thursday.
        return "\(weekday), \(pad(day, 2)) \(monthNames[month - 1]) \(pad(year, 4)) "
            + "\(pad(secondsOfDay / 3_600, 2)):\(pad(secondsOfDay % 3_600 / 60, 2)):\(pad(secondsOfDay % 60, 2)) GMT"
    }

    // MARK: - Tokenising (section 5.1.1 step 1)

    /// delimiter = %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E
    private static func isDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x09, 0x20...0x2F, 0x3B...0x40, 0x5B...0x60, 0x7B...0x7E:
            return true
        default:
            return false
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte)
    }

    private static func tokens(of bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        bytes.split(whereSeparator: isDelimiter)
    }

    // MARK: - Productions

    /// Matches `minimum*maximum DIGIT [ non-digit *OCTET ]` and returns the number.
    private static func matchDigits(_ token: ArraySlice<UInt8>, minimum: Int, maximum: Int) -> Int? {
        var value = 0
        var count = 0
        var index = token.startIndex
        while index < token.endIndex, isDigit(token[index]) {
            count += 1
            if count > maximum {
                return nil
            }
            value = value * 10 + Int(token[index] - 0x30)
            index += 1
        }
        return count >= minimum ? value : nil
    }

    /// Matches `hms-time [ non-digit *OCTET ]` where hms-time = 1*2DIGIT ":" 1*2DIGIT ":" 1*2DIGIT.
    private static func matchTime(_ token: ArraySlice<UInt8>) -> (hour: Int, minute: Int, second: Int)? {
        var fields: [Int] = []
        var index = token.startIndex
        while fields.count < 3 {
            var value = 0
            var count = 0
            while index < token.endIndex, isDigit(token[index]), count < 2 {
                value = value * 10 + Int(token[index] - 0x30)
                count += 1
                index += 1
            }
            guard count > 0 else {
                return nil
            }
            fields.append(value)
            if fields.count < 3 {
                guard index < token.endIndex, token[index] == UInt8(ascii: ":") else {
                    return nil
                }
                index += 1
            }
        }
        if index < token.endIndex, isDigit(token[index]) {
            return nil
        }
        return (fields[0], fields[1], fields[2])
    }

    /// Matches `( "jan" / ... / "dec" ) *OCTET` case-insensitively and returns 1–12.
    private static func matchMonth(_ token: ArraySlice<UInt8>) -> Int? {
        guard token.count >= 3 else {
            return nil
        }
        let prefix = CookieSyntax.string(token.prefix(3).map(CookieSyntax.lowercase))
        guard let index = lowercaseMonthNames.firstIndex(of: prefix) else {
            return nil
        }
        return index + 1
    }

    // MARK: - Calendar arithmetic (proleptic Gregorian, UTC)

    private static let monthNames = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    private static let lowercaseMonthNames = monthNames.map { $0.lowercased() }
    private static let weekdayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z in seconds since 1970.
    private static let earliestSeconds = -62_135_596_800
    private static let latestSeconds = 253_402_300_799

    private static func isLeapYear(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    private static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 2:
            return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11:
            return 30
        default:
            return 31
        }
    }

    private static func floorDivide(_ numerator: Int, _ denominator: Int) -> Int {
        let quotient = numerator / denominator
        return (numerator % denominator != 0 && (numerator < 0) != (denominator < 0)) ? quotient - 1 : quotient
    }

    /// Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = floorDivide(shiftedYear, 400)
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Civil date of a day count since 1970-01-01 (H. Hinnant's civil_from_days); `JSONWriter`
    /// uses it too.
    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = floorDivide(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
