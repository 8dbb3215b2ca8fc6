/// How inline commands are packed into protocol messages.
public enum InlineCommandBatching {
    /// Bytes one command costs in a message: its data plus 8 per semaphore id.
    public static func cost(of command: InlineCommand) -> Int { command.data.count + 8 * command.semaphores.count }

    /// Whether `commands` may travel in one message, as `batches` packs them: a single command
    /// of any cost, or commands whose total cost stays below `maxMessageDataSize`.
    public static func fitsOneMessage(_ commands: [InlineCommand]) -> Bool {
        commands.count <= 1 || commands.reduce(0) { $0 + cost(of: $1) } < maxMessageDataSize
    }

    /// Splits `commands` into consecutive batches whose total cost stays below
    /// `maxMessageDataSize`. A single command that alone is too large travels by itself.
    public static func batches(_ commands: [InlineCommand]) -> [ArraySlice<InlineCommand>] {
        var result: [ArraySlice<InlineCommand>] = []
        var start = commands.startIndex
        var total = 0
        for index in commands.indices {
            let cost = cost(of: commands[index])
            if index > start, total + cost >= maxMessageDataSize {
                result.append(commands[start..<index])
                start = index
                total = 0
            }
            total += cost
        }
        if start < commands.endIndex { result.append(commands[start...]) }
        return result
    }
}
