import Foundation

/// Durations written the way operators write them: `90`, `90s`, `30m`, `12h`, `7d`.
public enum DurationText {
    /// The longest duration accepted: 100 years. Every lifetime, timeout and interval is far
    /// below it, and every time it is added to stays within what stores keep in milliseconds.
    public static let maximumSeconds = 100 * 365 * 86_400

    /// The bound as error messages state it: "at most 36500d".
    public static let limitText = "at most \(maximumSeconds / 86_400)d"

    /// Seconds for `text`; nil for anything else (negative, empty, unknown suffix, over
    /// ``maximumSeconds``).
    public static func seconds(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let last = trimmed.last else { return nil }
        let multiplier: Int
        var digits = Substring(trimmed)
        switch last {
        case "s":
            multiplier = 1
            digits = digits.dropLast()
        case "m":
            multiplier = 60
            digits = digits.dropLast()
        case "h":
            multiplier = 3600
            digits = digits.dropLast()
        case "d":
            multiplier = 86400
            digits = digits.dropLast()
        case "0"..."9": multiplier = 1
        default: return nil
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int(digits)
        else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow || product > maximumSeconds ? nil : product
    }
}
