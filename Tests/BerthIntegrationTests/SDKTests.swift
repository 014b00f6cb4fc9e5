import BerthSystem
import Foundation
import Testing

/// The Docker SDK for Python against berthd: the behaviours its users rely on (run returning the
/// output, kill answering after the exit, exec framing and exit codes, commit, restart policies).
@Suite(.enabled(if: Gate.pythonSDK, Gate.pythonSDKReason)) struct SDKTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python/sdk_behaviours.py").path

    @Test func pythonSDKBehaviours() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            var env = ProcessInfo.processInfo.environment
            env["DOCKER_HOST"] = d.dockerHost
            let r = try await Subprocess.run(["python3", Self.script], env: env.map { "\($0.key)=\($0.value)" })
            for line in r.stdoutText.split(separator: "\n") where line.hasPrefix("FAIL") { Issue.record("\(line)") }
            #expect(r.status == 0, "\(r.stdoutText)\(r.stderrText)")
        }
    }
}
