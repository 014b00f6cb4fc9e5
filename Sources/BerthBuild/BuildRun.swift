import BerthEngine
import BerthModels

/// One build's fixed parts, shared by all its steps: what was asked, the plan, the context and
/// the output. Quiet builds keep what they would have said (bounded: a step that prints without
/// end must not bloat berthd) and send it only if the build fails, as dockerd does.
final class BuildRun {
    let options: BuildOptions
    let plan: BuildPlan
    /// The global ARGs' values (what FROM lines expand with).
    let globals: [String: String]
    let sh: ShellWords
    let context: String
    let sums: ContextSums
    let out: ProgressSink
    /// `--cache-from` images (nil with `--no-cache`).
    let cacheFrom: CacheFrom?
    /// The stages built so far, by index.
    var built: [Int: Builder.State] = [:]
    private var quietLog = ""

    init(options: BuildOptions, plan: BuildPlan, globals: [String: String], sh: ShellWords, context: String,
         sums: ContextSums, out: ProgressSink, cacheFrom: CacheFrom?) {
        self.options = options; self.plan = plan; self.globals = globals; self.sh = sh
        self.context = context; self.sums = sums; self.out = out; self.cacheFrom = cacheFrom
    }

    /// A line of the build's output.
    func say(_ s: String) {
        if !options.quiet { out.stream(s) } else if quietLog.utf8.count < 1 << 20 { quietLog += s }
    }

    /// A quiet build failed: what it would have said goes out before the error.
    func failed() {
        if options.quiet && !quietLog.isEmpty { out.stream(quietLog) }
    }
}
