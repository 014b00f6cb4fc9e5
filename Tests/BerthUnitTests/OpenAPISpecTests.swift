import BerthAPI
import BerthEngine
import BerthSystem
import Foundation
import Testing

/// openapi.yaml must describe exactly the routes berthd serves.
@Suite struct OpenAPISpecTests {
    /// (METHOD, path) pairs from the spec: two-space-indented paths, four-space-indented methods.
    static func specOperations() throws -> Set<String> {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("openapi.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        var ops = Set<String>()
        var inPaths = false
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") { inPaths = true; continue }
            if inPaths && !line.isEmpty && !line.hasPrefix(" ") { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), !line.hasPrefix("   ") {
                current = String(line.dropFirst(2).prefix { $0 != ":" })
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let p = current {
                let word = line.dropFirst(4).prefix { $0 != ":" }
                if ["get", "post", "put", "delete", "head", "patch"].contains(String(word)) {
                    ops.insert(word.uppercased() + " " + p)
                }
            }
        }
        return ops
    }

    @Test func specMatchesRoutes() throws {
        let root = "/tmp/berth-unit-spec-" + String(Identifier.random64().prefix(12))
        defer { FS.removeAll(root) }
        let engine = try Engine(config: EngineConfig(dataRoot: root + "/data", execRoot: root + "/exec"))
        let routes = Set(APIRoutes.make(engine: engine).routes.map { "\($0.method.rawValue) \($0.pattern)" })
        let spec = try Self.specOperations()
        #expect(spec.count > 40)
        #expect(routes.subtracting(spec).sorted() == [], "routes missing from openapi.yaml")
        #expect(spec.subtracting(routes).sorted() == [], "openapi.yaml documents routes berthd does not serve")
    }
}
