/// Reading the Prometheus text format (0.0.4) that `/metrics` serves: what `cloakroom cluster
/// status` shows of each node, and what the tests count.
public enum PrometheusText {
    /// Each sample line's `name{labels}` and value; comments (`# HELP`, `# TYPE`) and lines that
    /// are not samples are skipped.
    public static func samples(_ text: String) -> [String: Double] {
        var figures: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            figures[String(line[..<space])] = value
        }
        return figures
    }
}
