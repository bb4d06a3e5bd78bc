def add_parser(sub, formatter):
    pass
