"""The original usage doc's four Python examples, unchanged but for the import line.

Run with the records folder and time zone in the environment, e.g.
``AI_USAGE_RECORDS_DIR=records/ai_usage AI_USAGE_TIMEZONE=Asia/Shanghai python examples/original_doc.py``.
"""

from ai_usage_monitor import get_usage_monitor

monitor = get_usage_monitor()

# 1. 每日预算检查 (daily budget check)
daily_budget = 100.0
today = monitor.get_daily_summary()
if today.total_cost > daily_budget:
    print(f"警告: 今日成本 ¥{today.total_cost:.4f} 已超出预算 ¥{daily_budget:.2f}")
else:
    print(f"今日成本 ¥{today.total_cost:.4f}, 预算 ¥{daily_budget:.2f}, 调用 {today.total_calls} 次")

# 2. 用户配额 (per-user quota)
user_quota = 1.0
for user in monitor.get_top_users(limit=100, days=30):
    if user["cost"] > user_quota:
        print(f"用户 {user['user_id']} 超出配额: ¥{user['cost']:.4f} > ¥{user_quota:.2f}")

# 3. 月度成本预测 (monthly forecast)
trend = monitor.get_cost_trend(days=7)
avg_daily_cost = sum(d["cost"] for d in trend) / 7
monthly_forecast = avg_daily_cost * 30
print(f"预计月成本: ¥{monthly_forecast:.4f}")

# 4. 每个模型的平均单次调用成本 (average cost per call per model)
summary = monitor.get_daily_summary()
for model, stats in summary.by_model.items():
    avg_cost = stats["cost"] / stats["calls"]
    print(f"{model}: 平均每次调用成本 ¥{avg_cost:.6f}")
