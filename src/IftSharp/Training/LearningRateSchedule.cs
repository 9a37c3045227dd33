namespace IftSharp.Training;

public enum ScheduleKind { Constant, Linear, Cosine }

/// <summary>Learning-rate schedules as pure functions of the step, with linear warm-up (as transformers' schedulers).</summary>
public static class LearningRateSchedule
{
    /// <summary>
    /// The multiplier of the peak learning rate for optimizer step <paramref name="step"/> (0-based) of <paramref name="total"/>.
    /// </summary>
    public static double Factor(ScheduleKind kind, int step, int total, int warmupSteps)
    {
        if (warmupSteps > 0 && step < warmupSteps) return (double)step / warmupSteps;
        double progress = total <= warmupSteps ? 1 : (double)(step - warmupSteps) / (total - warmupSteps);
        progress = Math.Clamp(progress, 0, 1);
        return kind switch
        {
            ScheduleKind.Constant => 1,
            ScheduleKind.Linear => 1 - progress,
            ScheduleKind.Cosine => 0.5 * (1 + Math.Cos(Math.PI * progress)),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    public static int WarmupSteps(double ratio, int total) => (int)Math.Ceiling(ratio * total);
}
