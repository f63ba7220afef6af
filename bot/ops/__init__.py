"""Operations: Prometheus metrics at /metrics, CloudWatch EMF lines, cost alerts and the anonymized analytics export."""
