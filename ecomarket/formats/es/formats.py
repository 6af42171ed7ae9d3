# Spanish as the chain writes it (Argentina): "$ 1.234,50". Django's own "es" groups thousands with a space, as
# the RAE recommends; everything not set here (dates, first day of the week, ...) still comes from Django's "es".
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "."
NUMBER_GROUPING = 3
